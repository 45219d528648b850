/** Which requests may be answered from the cache, and which answers may be stored. */
import type { ChatRequest } from '../core/chat-request.js';
import type { ChatChoice, ChatResponse } from '../core/chat-response.js';
import type { RouteCacheConfig } from './cache-schema.js';

/**
 * Whether a request may be looked up in (and its answer stored to) the cache.
 *
 * - Temperature: only `temperature: 0` is cached unless the route says `cacheTemperature: true`.
 *   An absent temperature is the provider's default (1 on OpenAI and Azure), i.e. sampled: a
 *   cache hit would freeze one sample for every later caller, which the app did not ask for.
 * - `n > 1` is cached: the stored answer holds all n choices and replays them all.
 * - Audio output (`modalities` with "audio", or an `audio` field) is not: its audio id expires
 *   upstream, and a stream replay carries no audio.
 */
export function isCacheable(chat: ChatRequest, cfg: RouteCacheConfig): boolean {
  const t = chat.params.temperature;
  if ((t === undefined || !(t <= 0)) && !cfg.cacheTemperature) return false;
  const pt = chat.passthrough;
  if (pt.audio != null) return false;
  if (Array.isArray(pt.modalities) && pt.modalities.includes('audio')) return false;
  return true;
}

/**
 * Whether an answer may be stored: a whole, successful answer only. Every choice must have
 * ended by itself (stop, tool_calls, function_call); `length` (cut by max_tokens) only with
 * `storeTruncated`, `content_filter` only with `storeFiltered`. An answer with no choices, or a
 * choice with neither text, tool calls nor a refusal (but for a filtered one, often empty), is not stored: an empty answer is more
 * likely an upstream glitch than the answer, and a stored one would be served for a whole TTL.
 * Answers carrying audio are not stored (see `isCacheable`).
 */
export function isStorable(res: ChatResponse, cfg: RouteCacheConfig): boolean {
  if (res.choices.length === 0) return false;
  return res.choices.every((c) => finishAllowed(c, cfg) && (hasAnswer(c) || c.finishReason === 'content_filter') && c.message.extra?.audio == null);
}

function finishAllowed(c: ChatChoice, cfg: RouteCacheConfig): boolean {
  switch (c.finishReason) {
    case 'stop':
    case 'tool_calls':
    case 'function_call':
      return true;
    case 'length':
      return cfg.storeTruncated;
    case 'content_filter':
      return cfg.storeFiltered;
    default:
      return false;
  }
}

function hasAnswer(c: ChatChoice): boolean {
  return Boolean(c.message.content) || (c.message.toolCalls?.length ?? 0) > 0 || Boolean(c.message.refusal);
}
