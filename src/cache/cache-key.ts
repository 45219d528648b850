/**
 * The cache key of a request: sha256 (hex) of a canonical text of everything that shapes the
 * answer, and of the scope that may share it.
 *
 * In the key: the scope; the route name (`model`); the messages, exactly (every field, content
 * parts included: a string and a one-text-part array are different prompts to some upstreams);
 * tools and tool choice; the sampling and length params (maxTokens, temperature, topP, stop,
 * seed, n, presence/frequency penalty, responseFormat, parallelToolCalls); and every passthrough
 * field except the per-call metadata in `PASSTHROUGH_NOT_IN_KEY`. Unknown passthrough fields are
 * in the key on purpose: a field wrongly in the key only costs hits, one wrongly left out serves a
 * wrong answer.
 *
 * Not in the key: `stream` and `includeUsage` (a streamed request may be answered from a
 * non-streamed answer and back: `replayStream` turns one into the other), `meta` (request id,
 * key id: the scope says who may share), `params.user` (an end-user id for abuse monitoring),
 * and `params.maxTokensField` (which wire spelling carried max tokens; the value is in the key).
 *
 * Object key order never matters (`canonicalJson`); note that inside a JSON schema (tool
 * parameters, response format) property order may steer the order a model writes fields in, so
 * two such requests share an answer whose field order fits one of them.
 */
import { createHash } from 'node:crypto';

import type { ChatRequest } from '../core/chat-request.js';
import type { CacheScope } from './cache-schema.js';
import { canonicalJson } from './canonical-json.js';

/** Bumped when the key material changes shape, so old entries are never read as new ones. */
const KEY_VERSION = 1;

/**
 * Passthrough fields that are per-call metadata, not part of what is asked: stored-completion
 * and tagging fields (`store`, `metadata`), end-user ids (`user`, `safety_identifier`), the
 * latency/price tier (`service_tier`: same model, same answer), OpenAI's prompt-cache routing hints
 * (`prompt_cache_key`, `prompt_cache_retention`), and the stream framing (`stream`,
 * `stream_options`; modelled fields, listed in case a caller leaves them in passthrough).
 */
export const PASSTHROUGH_NOT_IN_KEY: ReadonlySet<string> = new Set([
  'user',
  'safety_identifier',
  'metadata',
  'store',
  'service_tier',
  'prompt_cache_key',
  'prompt_cache_retention',
  'stream',
  'stream_options',
]);

/** What is hashed: exported for tests and for debugging a surprising miss. */
export function keyMaterial(chat: ChatRequest, scope: string): string {
  const p = chat.params;
  const passthrough: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(chat.passthrough)) {
    if (!PASSTHROUGH_NOT_IN_KEY.has(k)) Object.defineProperty(passthrough, k, { value: v, enumerable: true });
  }
  return canonicalJson({
    v: KEY_VERSION,
    scope,
    route: chat.model,
    messages: chat.messages,
    tools: chat.tools,
    toolChoice: chat.toolChoice,
    params: {
      maxTokens: p.maxTokens,
      temperature: p.temperature,
      topP: p.topP,
      stop: p.stop,
      seed: p.seed,
      n: p.n,
      presencePenalty: p.presencePenalty,
      frequencyPenalty: p.frequencyPenalty,
      responseFormat: p.responseFormat,
      parallelToolCalls: p.parallelToolCalls,
    },
    passthrough,
  });
}

/** The cache key (sha256 hex) of a request within a scope (see `scopeOf`). */
export function cacheKey(chat: ChatRequest, scope: string): string {
  return createHash('sha256').update(keyMaterial(chat, scope)).digest('hex');
}

/**
 * The scope text of a caller: `key:<id>`, `team:<team>` or `global`. A caller without a team
 * under `scope: team` keeps its answers to itself (`key:<id>`), never to a team named "".
 */
export function scopeOf(cfgScope: CacheScope, identity: { keyId: string; team?: string }): string {
  switch (cfgScope) {
    case 'key':
      return `key:${identity.keyId}`;
    case 'team':
      return identity.team ? `team:${identity.team}` : `key:${identity.keyId}`;
    case 'global':
      return 'global';
  }
}
