/**
 * The one module that maps the router's internal schema to and from the OpenAI Chat
 * Completions wire format, in both directions: app → router (edge), router → OpenAI-style
 * upstream (adapters), upstream → router, router → app.
 */
import type { ChatMessage, ChatRequest, ContentPart, RequestMeta, ResponseFormat, ToolCall, ToolChoice, ToolDef } from '../core/chat-request.js';
import type { ChatChoice, ChatChunk, ChatResponse, FinishReason, ToolCallDelta, Usage } from '../core/chat-response.js';
import { chatRequestSchema, type WireChatRequest } from './request-schema.js';
import type { z } from 'zod';

/** Fields read into the internal schema; everything else is passthrough. */
const MODELLED = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'n', 'stop', 'seed',
  'presence_penalty', 'frequency_penalty', 'response_format', 'tools', 'tool_choice', 'parallel_tool_calls',
  'stream', 'stream_options', 'user',
]);

export class WireValidationError extends Error {
  constructor(message: string, readonly param: string | null) {
    super(message);
    this.name = 'WireValidationError';
  }
}

/** `messages[0].content` style path, as OpenAI reports `param`. */
export function formatParam(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${String(seg)}` : String(seg);
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const param = formatParam(issue.path);
  return param ? `Invalid value for '${param}': ${issue.message}` : issue.message;
}

/** Parses an app's request body. Throws WireValidationError naming the field. */
export function parseChatRequest(body: unknown, meta: RequestMeta): ChatRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new WireValidationError('The request body must be a JSON object.', null);
  }
  const parsed = chatRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new WireValidationError(describeIssue(issue), formatParam(issue.path) || null);
  }
  return fromWireRequest(parsed.data, meta);
}

function fromWireMessage(m: WireChatRequest['messages'][number]): ChatMessage {
  switch (m.role) {
    case 'system':
    case 'developer':
      return { role: m.role, content: m.content as string | ContentPart[], ...(m.name ? { name: m.name } : {}) };
    case 'user':
      return { role: 'user', content: m.content as string | ContentPart[], ...(m.name ? { name: m.name } : {}) };
    case 'assistant': {
      const out: ChatMessage = { role: 'assistant', content: (m.content ?? null) as string | ContentPart[] | null };
      if (m.name) out.name = m.name;
      if (m.tool_calls?.length) out.toolCalls = m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } }));
      if (m.refusal != null) out.refusal = m.refusal;
      return out;
    }
    case 'tool':
      return { role: 'tool', content: m.content as string | ContentPart[], toolCallId: m.tool_call_id };
    case 'function':
      return { role: 'function', content: m.content, name: m.name };
  }
}

function fromWireResponseFormat(rf: WireChatRequest['response_format']): ResponseFormat | undefined {
  if (!rf) return undefined;
  if (rf.type === 'json_schema') {
    const js = rf.json_schema;
    return {
      type: 'json_schema',
      jsonSchema: { name: js.name, ...(js.schema ? { schema: js.schema } : {}), ...(js.strict != null ? { strict: js.strict } : {}), ...(js.description ? { description: js.description } : {}) },
    };
  }
  return { type: rf.type };
}

export function fromWireRequest(w: WireChatRequest, meta: RequestMeta): ChatRequest {
  const passthrough: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(w)) if (!MODELLED.has(k) && v !== undefined) passthrough[k] = v;
  const maxTokensField = w.max_completion_tokens != null ? 'max_completion_tokens' : w.max_tokens != null ? 'max_tokens' : undefined;
  const req: ChatRequest = {
    model: w.model,
    messages: w.messages.map(fromWireMessage),
    params: {},
    stream: w.stream === true,
    includeUsage: w.stream === true && w.stream_options?.include_usage === true,
    passthrough,
    meta,
  };
  const p = req.params;
  if (maxTokensField) {
    p.maxTokens = (w.max_completion_tokens ?? w.max_tokens)!;
    p.maxTokensField = maxTokensField;
  }
  if (w.temperature != null) p.temperature = w.temperature;
  if (w.top_p != null) p.topP = w.top_p;
  if (w.n != null) p.n = w.n;
  if (w.stop != null) p.stop = typeof w.stop === 'string' ? [w.stop] : w.stop;
  if (w.seed != null) p.seed = w.seed;
  if (w.presence_penalty != null) p.presencePenalty = w.presence_penalty;
  if (w.frequency_penalty != null) p.frequencyPenalty = w.frequency_penalty;
  const rf = fromWireResponseFormat(w.response_format);
  if (rf) p.responseFormat = rf;
  if (w.parallel_tool_calls != null) p.parallelToolCalls = w.parallel_tool_calls;
  if (w.user != null) p.user = w.user;
  if (w.tools?.length) req.tools = w.tools.map((t) => ({ type: 'function', function: { ...t.function } }) as ToolDef);
  if (w.tool_choice != null) req.toolChoice = w.tool_choice as ToolChoice;
  return req;
}

function toWireMessage(m: ChatMessage): Record<string, unknown> {
  switch (m.role) {
    case 'assistant': {
      const out: Record<string, unknown> = { role: 'assistant', content: m.content };
      if (m.name) out.name = m.name;
      if (m.toolCalls?.length) out.tool_calls = m.toolCalls;
      if (m.refusal != null) out.refusal = m.refusal;
      return out;
    }
    case 'tool':
      return { role: 'tool', content: m.content, tool_call_id: m.toolCallId };
    default:
      return { ...m };
  }
}

/** The body sent to an OpenAI-style upstream for `model`. Passthrough fields go first so modelled ones win. */
export function toWireRequest(req: ChatRequest, model: string): Record<string, unknown> {
  const p = req.params;
  const body: Record<string, unknown> = { ...req.passthrough, model, messages: req.messages.map(toWireMessage) };
  if (p.maxTokens != null) body[p.maxTokensField ?? 'max_tokens'] = p.maxTokens;
  if (p.temperature != null) body.temperature = p.temperature;
  if (p.topP != null) body.top_p = p.topP;
  if (p.n != null) body.n = p.n;
  if (p.stop?.length) body.stop = p.stop;
  if (p.seed != null) body.seed = p.seed;
  if (p.presencePenalty != null) body.presence_penalty = p.presencePenalty;
  if (p.frequencyPenalty != null) body.frequency_penalty = p.frequencyPenalty;
  if (p.responseFormat) {
    const rf = p.responseFormat;
    body.response_format = rf.type === 'json_schema' ? { type: 'json_schema', json_schema: rf.jsonSchema } : { type: rf.type };
  }
  if (p.parallelToolCalls != null) body.parallel_tool_calls = p.parallelToolCalls;
  if (p.user != null) body.user = p.user;
  if (req.tools?.length) body.tools = req.tools;
  if (req.toolChoice != null) body.tool_choice = req.toolChoice;
  if (req.stream) {
    body.stream = true;
    // Always ask for usage upstream: the router meters tokens even when the app did not ask.
    body.stream_options = { include_usage: true };
  }
  return body;
}

// ---- upstream → internal (loose: only what we need, extra fields never break us) ----

const FINISH: Record<string, FinishReason> = {
  stop: 'stop', length: 'length', tool_calls: 'tool_calls', content_filter: 'content_filter', function_call: 'function_call',
};

/** Maps an upstream finish reason; unknown values (e.g. "end_turn") read as stop. */
export function mapFinishReason(reason: unknown): FinishReason {
  return (typeof reason === 'string' && FINISH[reason]) || 'stop';
}

type Obj = Record<string, unknown>;
/** A plain JSON object (not null, not an array). */
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

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

/** Reads an upstream's non-streamed answer. Throws if it is not a chat completion. */
export function fromWireResponse(json: unknown): ChatResponse {
  if (!isObj(json) || !Array.isArray(json.choices)) throw new TypeError('upstream answer has no choices array');
  const choices: ChatChoice[] = json.choices.map((c: unknown, i: number) => {
    const choice = isObj(c) ? c : {};
    const msg = isObj(choice.message) ? choice.message : {};
    const out: ChatChoice = {
      index: typeof choice.index === 'number' ? choice.index : i,
      message: { content: typeof msg.content === 'string' ? msg.content : null },
      finishReason: mapFinishReason(choice.finish_reason),
    };
    if (Array.isArray(msg.tool_calls) && msg.tool_calls.length) out.message.toolCalls = msg.tool_calls as ToolCall[];
    if (msg.refusal != null) out.message.refusal = msg.refusal as string;
    const extra: Obj = {};
    for (const [k, v] of Object.entries(msg)) if (!KNOWN_MESSAGE_FIELDS.has(k) && v != null) extra[k] = v;
    if (Object.keys(extra).length) out.message.extra = extra;
    if (choice.logprobs != null) out.logprobs = choice.logprobs;
    if (isObj(choice.content_filter_results)) out.contentFilterResults = choice.content_filter_results;
    return out;
  });
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
      const delta = isObj(c.delta) ? c.delta : {};
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

// ---- internal → app ----

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

export function toWireResponse(res: ChatResponse, env: WireEnvelope): Obj {
  const out: Obj = {
    id: env.id,
    object: 'chat.completion',
    created: env.created,
    model: env.model,
    choices: res.choices.map((c) => {
      const message: Obj = { role: 'assistant', content: c.message.content, refusal: c.message.refusal ?? null, ...(c.message.extra ?? {}) };
      if (c.message.toolCalls?.length) message.tool_calls = c.message.toolCalls;
      const choice: Obj = { index: c.index, message, logprobs: c.logprobs ?? null, finish_reason: c.finishReason };
      if (c.contentFilterResults) choice.content_filter_results = c.contentFilterResults;
      return choice;
    }),
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

  constructor(private readonly env: WireEnvelope, private readonly includeUsage: boolean) {}

  private frame(choices: Obj[], extra?: Obj): Obj {
    const out: Obj = { id: this.env.id, object: 'chat.completion.chunk', created: this.env.created, model: this.env.model };
    if (this.env.systemFingerprint !== undefined) out.system_fingerprint = this.env.systemFingerprint;
    out.choices = choices;
    if (!this.sentAny && this.env.promptFilterResults?.length) out.prompt_filter_results = this.env.promptFilterResults;
    this.sentAny = true;
    return extra ? { ...out, ...extra } : out;
  }

  private roleDelta(index: number): Obj {
    if (this.started.has(index)) return {};
    this.started.add(index);
    return { role: 'assistant', content: '' };
  }

  /** The wire chunk for an internal chunk, or null when nothing goes out (e.g. usage not asked). */
  encode(chunk: ChatChunk): Obj | null {
    switch (chunk.type) {
      case 'delta': {
        if (this.finished.has(chunk.index)) return null;
        const delta: Obj = this.roleDelta(chunk.index);
        if (chunk.text !== undefined) delta.content = chunk.text;
        if (chunk.toolCalls) delta.tool_calls = chunk.toolCalls;
        if (chunk.refusal !== undefined) delta.refusal = chunk.refusal;
        return this.frame([{ index: chunk.index, delta, logprobs: chunk.logprobs ?? null, finish_reason: null }]);
      }
      case 'finish': {
        if (this.finished.has(chunk.index)) return null;
        this.finished.add(chunk.index);
        const choice: Obj = { index: chunk.index, delta: this.roleDelta(chunk.index), logprobs: null, finish_reason: chunk.finish };
        if (chunk.contentFilterResults) choice.content_filter_results = chunk.contentFilterResults;
        return this.frame([choice]);
      }
      case 'usage':
        return this.includeUsage ? this.frame([], { usage: toWireUsage(chunk.usage) }) : null;
    }
  }

  /** Whether every choice that started has finished. */
  complete(expectedChoices: number): boolean {
    return this.finished.size >= expectedChoices;
  }
}
