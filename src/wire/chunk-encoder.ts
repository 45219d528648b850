/** Router → app: the internal answer as an OpenAI chat.completion, and stream chunks as chat.completion.chunk events. */
import type { ChatChunk, ChatResponse, Usage } from '../core/chat-response.js';
import type { Obj } from './wire-common.js';

export function toWireUsage(u: Usage): Obj {
  const out: Obj = { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens };
  if (u.promptTokensDetails) out.prompt_tokens_details = u.promptTokensDetails;
  if (u.completionTokensDetails) out.completion_tokens_details = u.completionTokensDetails;
  return out;
}

export interface WireEnvelope {
  /** Completion id the app sees (chatcmpl-…). */
  id: string;
  created: number;
  model: string;
  systemFingerprint?: string | null;
  /** Sent once, on the first stream chunk (Azure prompt-filter results). */
  promptFilterResults?: unknown[];
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * What `{ ...target, ...extra }` did to `target`, without the spread: every own enumerable
 * string key of `extra`, in order, written as an own data property (an existing key keeps its
 * place). "__proto__" (an own key of an answer read back from JSON) is defined, not assigned,
 * so it stays a key as the spread kept it. Symbol keys, which the spread also copied, never
 * reach the client: JSON.stringify skips them.
 */
function copyFields(target: Obj, extra: Obj): void {
  for (const k in extra) {
    if (!hasOwn.call(extra, k)) continue;
    if (k === '__proto__') Object.defineProperty(target, k, { value: extra[k], enumerable: true, writable: true, configurable: true });
    else target[k] = extra[k];
  }
}

function toWireChoice(c: ChatResponse['choices'][number]): Obj {
  const message: Obj = { role: 'assistant', content: c.message.content, refusal: c.message.refusal ?? null };
  if (c.message.extra) copyFields(message, c.message.extra);
  if (c.message.toolCalls?.length) message.tool_calls = c.message.toolCalls;
  const choice: Obj = { index: c.index, message, logprobs: c.logprobs ?? null, finish_reason: c.finishReason };
  if (c.contentFilterResults) choice.content_filter_results = c.contentFilterResults;
  return choice;
}

export function toWireResponse(res: ChatResponse, env: WireEnvelope): Obj {
  const out: Obj = {
    id: env.id,
    object: 'chat.completion',
    created: env.created,
    model: env.model,
    choices: res.choices.map(toWireChoice),
  };
  if (res.usage) out.usage = toWireUsage(res.usage);
  if (res.systemFingerprint !== undefined) out.system_fingerprint = res.systemFingerprint;
  if (res.serviceTier) out.service_tier = res.serviceTier;
  if (res.promptFilterResults) out.prompt_filter_results = res.promptFilterResults;
  return out;
}

/**
 * Turns internal chunks into OpenAI `chat.completion.chunk` objects with OpenAI's framing rules:
 * the first delta of each choice carries `role: "assistant"`; a choice's finish_reason comes once,
 * on its last chunk; usage (when asked) comes as a final chunk with `choices: []`.
 */
export class WireChunkEncoder {
  private readonly started = new Set<number>();
  private readonly finished = new Set<number>();
  private sentAny = false;
  /** The serialised envelope (see encodeJson), made on first use. */
  private prefix: string | undefined;

  constructor(private readonly env: WireEnvelope, private readonly includeUsage: boolean) {}

  /** `usage`: appended last, as the former `{ ...out, usage }` copy placed it (out never has one). */
  private frame(choices: Obj[], usage?: Obj): Obj {
    const out: Obj = { id: this.env.id, object: 'chat.completion.chunk', created: this.env.created, model: this.env.model };
    if (this.env.systemFingerprint !== undefined) out.system_fingerprint = this.env.systemFingerprint;
    out.choices = choices;
    if (!this.sentAny && this.env.promptFilterResults?.length) out.prompt_filter_results = this.env.promptFilterResults;
    this.sentAny = true;
    if (usage) out.usage = usage;
    return out;
  }

  private roleDelta(index: number): Obj {
    if (this.started.has(index)) return {};
    this.started.add(index);
    return { role: 'assistant', content: '' };
  }

  /** The choices and usage of the wire chunk for an internal chunk, or null when nothing goes out (e.g. usage not asked). */
  private parts(chunk: ChatChunk): { choices: Obj[]; usage?: Obj } | null {
    switch (chunk.type) {
      case 'delta': {
        if (this.finished.has(chunk.index)) return null;
        const delta: Obj = this.roleDelta(chunk.index);
        if (chunk.text !== undefined) delta.content = chunk.text;
        if (chunk.toolCalls) delta.tool_calls = chunk.toolCalls;
        if (chunk.refusal !== undefined) delta.refusal = chunk.refusal;
        return { choices: [{ index: chunk.index, delta, logprobs: chunk.logprobs ?? null, finish_reason: null }] };
      }
      case 'finish': {
        if (this.finished.has(chunk.index)) return null;
        this.finished.add(chunk.index);
        const choice: Obj = { index: chunk.index, delta: this.roleDelta(chunk.index), logprobs: null, finish_reason: chunk.finish };
        if (chunk.contentFilterResults) choice.content_filter_results = chunk.contentFilterResults;
        return { choices: [choice] };
      }
      case 'usage':
        return this.includeUsage ? { choices: [], usage: toWireUsage(chunk.usage) } : null;
    }
  }

  /** The wire chunk for an internal chunk, or null when nothing goes out (e.g. usage not asked). */
  encode(chunk: ChatChunk): Obj | null {
    const p = this.parts(chunk);
    return p && this.frame(p.choices, p.usage);
  }

  /**
   * `JSON.stringify(encode(chunk))` with `usageExtra`'s fields appended to a usage chunk's
   * `usage` (the router's cost_usd), from the envelope serialised once per stream: per chunk
   * only the choices (and usage) are serialised, and no envelope object is built.
   */
  encodeJson(chunk: ChatChunk, usageExtra?: Obj): string | null {
    const p = this.parts(chunk);
    if (!p) return null;
    let text = (this.prefix ??= this.envelopePrefix()) + JSON.stringify(p.choices);
    if (!this.sentAny && this.env.promptFilterResults?.length) text += `,"prompt_filter_results":${JSON.stringify(this.env.promptFilterResults)}`;
    this.sentAny = true;
    if (p.usage) {
      if (usageExtra) copyFields(p.usage, usageExtra);
      text += `,"usage":${JSON.stringify(p.usage)}`;
    }
    return `${text}}`;
  }

  /** `{"id":…,"object":"chat.completion.chunk","created":…,"model":…[,"system_fingerprint":…],"choices":` as frame() orders them. */
  private envelopePrefix(): string {
    const e = this.env;
    const fingerprint = e.systemFingerprint !== undefined ? `,"system_fingerprint":${JSON.stringify(e.systemFingerprint)}` : '';
    return `{"id":${JSON.stringify(e.id)},"object":"chat.completion.chunk","created":${JSON.stringify(e.created)},"model":${JSON.stringify(e.model)}${fingerprint},"choices":`;
  }

  /** Whether every choice that started has finished. */
  complete(expectedChoices: number): boolean {
    return this.finished.size >= expectedChoices;
  }
}
