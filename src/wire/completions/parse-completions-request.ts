/**
 * App → router: a legacy Completions request read and checked, and each of its prompts as the
 * Chat Completions body the router's chat path serves (the prompt as one user message), built
 * through the internal ChatRequest and the one router → wire mapping (`toWireRequest`).
 *
 * The targets behind the router are chat models: what only a raw completion model can do is
 * refused by name (token-id prompts, `logprobs`, `suffix`, `best_of` > 1). `echo` needs no
 * model: the prompt is put in front of the text.
 */
import type { ChatRequest } from '../../core/chat-request.js';
import { toWireRequest } from '../upstream-request.js';
import { checkBodyShape, FieldError, fieldErrorOf } from '../responses/field-error.js';
import { completionsRequestSchema, MAX_PROMPTS, type WireCompletionsRequest } from './completions-schema.js';

/** A checked Completions request. */
export interface CompletionsRequest {
  model: string;
  /** One chat request each; choices of prompt `p` are indexed `p * n + i`. */
  prompts: string[];
  /** Choices per prompt. */
  n: number;
  stream: boolean;
  /** A final usage chunk on a stream (stream_options.include_usage). */
  includeUsage: boolean;
  /** Put the prompt in front of each choice's text. */
  echo: boolean;
  wire: WireCompletionsRequest;
}

const unsupported = (param: string, why: string) => new FieldError(`'${param}' is not supported by the router: ${why}`, param, 'unsupported_parameter');

function promptsOf(prompt: unknown): string[] {
  if (prompt === undefined || prompt === null) throw new FieldError("Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
  if (typeof prompt === 'string') return [prompt];
  if (!Array.isArray(prompt) || prompt.length === 0) throw new FieldError("Invalid value for 'prompt': expected a string or a non-empty array of strings.", 'prompt');
  if (prompt.some((p) => typeof p === 'number' || Array.isArray(p))) {
    throw unsupported('prompt', 'token-id prompts need a raw completion model and its tokenizer; the targets behind the router are chat models. Send the prompt as text.');
  }
  const bad = prompt.findIndex((p) => typeof p !== 'string');
  if (bad >= 0) throw new FieldError(`Invalid value for 'prompt[${bad}]': expected a string.`, `prompt[${bad}]`);
  if (prompt.length > MAX_PROMPTS) throw new FieldError(`Invalid value for 'prompt': at most ${MAX_PROMPTS} prompts in one request (each is one chat request).`, 'prompt');
  return prompt as string[];
}

/** Throws FieldError naming the field (`param`). */
export function parseCompletionsRequest(body: unknown, opts: { maxDepth?: number } = {}): CompletionsRequest {
  checkBodyShape(body, opts.maxDepth);
  const parsed = completionsRequestSchema.safeParse(body);
  if (!parsed.success) throw fieldErrorOf(parsed.error);
  const w = parsed.data;
  const prompts = promptsOf(w.prompt);
  if (w.logprobs != null) throw unsupported('logprobs', 'the chat models behind the router report log probabilities per chat token, not in the legacy format. Omit it or send null.');
  if (w.suffix != null && w.suffix !== '') throw unsupported('suffix', 'insertion needs a raw completion model; the targets behind the router are chat models.');
  if (w.best_of != null && w.best_of !== 1) throw unsupported('best_of', 'choosing the best of several generations needs their log probabilities. Use n for several choices.');
  const n = w.n ?? 1;
  return { model: w.model, prompts, n, stream: w.stream === true, includeUsage: w.stream === true && w.stream_options?.include_usage === true, echo: w.echo === true, wire: w };
}

/** The chat completion body for one prompt (a stream always asks for usage: the router sums it over prompts). */
export function toChatBody(req: CompletionsRequest, prompt: string): Record<string, unknown> {
  const w = req.wire;
  const passthrough = Object.create(null) as Record<string, unknown>;
  if (w.logit_bias != null) passthrough.logit_bias = w.logit_bias;
  const chat: ChatRequest = {
    model: req.model,
    messages: [{ role: 'user', content: prompt }],
    params: {},
    stream: req.stream,
    includeUsage: req.stream,
    passthrough,
    meta: { requestId: 'completions', receivedAt: 0 },
  };
  const p = chat.params;
  if (w.max_tokens != null) {
    p.maxTokens = w.max_tokens;
    p.maxTokensField = 'max_tokens';
  }
  if (w.temperature != null) p.temperature = w.temperature;
  if (w.top_p != null) p.topP = w.top_p;
  if (req.n !== 1) p.n = req.n;
  if (w.stop != null) p.stop = typeof w.stop === 'string' ? [w.stop] : w.stop;
  if (w.seed != null) p.seed = w.seed;
  if (w.presence_penalty != null) p.presencePenalty = w.presence_penalty;
  if (w.frequency_penalty != null) p.frequencyPenalty = w.frequency_penalty;
  if (w.user != null) p.user = w.user;
  return toWireRequest(chat, req.model);
}

/** The Completions field for a `param` the chat path named in an error. */
export function completionsParamOf(param: string | null): string | null {
  if (param === null) return null;
  if (param === 'max_completion_tokens') return 'max_tokens';
  if (param.startsWith('messages')) return 'prompt';
  return param;
}
