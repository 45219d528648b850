/** OpenAI-style upstream → router: answers and stream chunks, read loosely (only what we need, extra fields never break us). */
import type { ToolCall } from '../core/chat-request.js';
import type { ChatChoice, ChatChunk, ChatResponse, FinishReason, ToolCallDelta, Usage } from '../core/chat-response.js';
import { isObj, type Obj } from './wire-common.js';

const FINISH: Record<string, FinishReason> = {
  stop: 'stop', length: 'length', tool_calls: 'tool_calls', content_filter: 'content_filter', function_call: 'function_call',
};

/** Maps an upstream finish reason; unknown values (e.g. "end_turn") read as stop. */
export function mapFinishReason(reason: unknown): FinishReason {
  return (typeof reason === 'string' && FINISH[reason]) || 'stop';
}

export function fromWireUsage(u: unknown): Usage | undefined {
  if (!isObj(u)) return undefined;
  const prompt = Number(u.prompt_tokens ?? 0);
  const completion = Number(u.completion_tokens ?? 0);
  const usage: Usage = { promptTokens: prompt, completionTokens: completion, totalTokens: Number(u.total_tokens ?? prompt + completion) };
  if (isObj(u.prompt_tokens_details)) usage.promptTokensDetails = u.prompt_tokens_details;
  if (isObj(u.completion_tokens_details)) usage.completionTokensDetails = u.completion_tokens_details;
  return usage;
}

const KNOWN_MESSAGE_FIELDS = new Set(['role', 'content', 'tool_calls', 'refusal', 'function_call']);

/** Stands in for a missing choice/message/delta: only ever read, so one shared frozen object. */
const NONE: Obj = Object.freeze({});
const hasOwn = Object.prototype.hasOwnProperty;

/** One choice of a non-streamed answer (a module function: no closure per answer). */
function readChoice(c: unknown, i: number): ChatChoice {
  const choice = isObj(c) ? c : NONE;
  const msg = isObj(choice.message) ? choice.message : NONE;
  const out: ChatChoice = {
    index: typeof choice.index === 'number' ? choice.index : i,
    message: { content: typeof msg.content === 'string' ? msg.content : null },
    finishReason: mapFinishReason(choice.finish_reason),
  };
  if (Array.isArray(msg.tool_calls) && msg.tool_calls.length) out.message.toolCalls = msg.tool_calls as ToolCall[];
  if (msg.refusal != null) out.message.refusal = msg.refusal as string;
  // Unknown message fields (annotations, audio…): the same assignments into a plain object as
  // before, in Object.entries order (for…in + own-check), but the object is made only when
  // there is one, and without the entry arrays.
  let extra: Obj | undefined;
  let plainKey = false;
  for (const k in msg) {
    if (!hasOwn.call(msg, k) || KNOWN_MESSAGE_FIELDS.has(k)) continue;
    const v = msg[k];
    if (v == null) continue;
    (extra ??= {})[k] = v;
    if (k !== '__proto__') plainKey = true;
  }
  // A "__proto__" alone was an assignment to the prototype, not a key: count keys as before then.
  if (extra !== undefined && (plainKey || Object.keys(extra).length)) out.message.extra = extra;
  if (choice.logprobs != null) out.logprobs = choice.logprobs;
  if (isObj(choice.content_filter_results)) out.contentFilterResults = choice.content_filter_results;
  return out;
}

/** Reads an upstream's non-streamed answer. Throws if it is not a chat completion. */
export function fromWireResponse(json: unknown): ChatResponse {
  if (!isObj(json) || !Array.isArray(json.choices)) throw new TypeError('upstream answer has no choices array');
  const choices: ChatChoice[] = json.choices.map(readChoice);
  const res: ChatResponse = { model: typeof json.model === 'string' ? json.model : 'unknown', choices };
  if (typeof json.id === 'string') res.id = json.id;
  if (typeof json.created === 'number') res.created = json.created;
  const usage = fromWireUsage(json.usage);
  if (usage) res.usage = usage;
  if (json.system_fingerprint !== undefined) res.systemFingerprint = json.system_fingerprint as string | null;
  if (typeof json.service_tier === 'string') res.serviceTier = json.service_tier;
  if (Array.isArray(json.prompt_filter_results)) res.promptFilterResults = json.prompt_filter_results;
  return res;
}

/** Reads one upstream stream chunk into zero or more internal chunks. */
export function fromWireChunk(json: unknown): ChatChunk[] {
  if (!isObj(json)) throw new TypeError('stream chunk is not an object');
  const out: ChatChunk[] = [];
  if (Array.isArray(json.choices)) {
    for (const c of json.choices) {
      if (!isObj(c)) continue;
      const index = typeof c.index === 'number' ? c.index : 0;
      const delta = isObj(c.delta) ? c.delta : NONE;
      const d: Extract<ChatChunk, { type: 'delta' }> = { type: 'delta', index };
      if (typeof delta.content === 'string' && delta.content !== '') d.text = delta.content;
      if (Array.isArray(delta.tool_calls) && delta.tool_calls.length) d.toolCalls = delta.tool_calls as ToolCallDelta[];
      if (typeof delta.refusal === 'string') d.refusal = delta.refusal;
      if (c.logprobs != null) d.logprobs = c.logprobs;
      if (d.text !== undefined || d.toolCalls || d.refusal !== undefined || d.logprobs !== undefined) out.push(d);
      if (c.finish_reason != null) {
        const f: Extract<ChatChunk, { type: 'finish' }> = { type: 'finish', index, finish: mapFinishReason(c.finish_reason) };
        if (isObj(c.content_filter_results)) f.contentFilterResults = c.content_filter_results;
        out.push(f);
      }
    }
  }
  const usage = fromWireUsage(json.usage);
  if (usage) out.push({ type: 'usage', usage });
  return out;
}
