/**
 * App → router: an inbound Chat Completions body read into the internal ChatRequest. The only
 * place OpenAI request field names are read.
 */
import type { ChatMessage, ChatRequest, ContentPart, RequestMeta, ResponseFormat, ToolChoice, ToolDef } from '../core/chat-request.js';
import { chatRequestSchema, isPlainChatBody, type WireChatRequest } from './request-schema.js';
import { formatParam, WireValidationError } from './wire-common.js';
import { findTooDeep } from './json-depth.js';
import type { z } from 'zod';

/** Fields read into the internal schema; everything else is passthrough. */
const MODELLED = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'n', 'stop', 'seed',
  'presence_penalty', 'frequency_penalty', 'response_format', 'tools', 'tool_choice', 'parallel_tool_calls',
  'stream', 'stream_options', 'user',
]);

function describeIssue(issue: z.core.$ZodIssue): string {
  const param = formatParam(issue.path);
  return param ? `Invalid value for '${param}': ${issue.message}` : issue.message;
}

/** Nesting allowed when the caller does not say (server.limits.maxDepth). */
export const DEFAULT_MAX_DEPTH = 64;

export interface ParseOptions {
  /** Deepest nesting of arrays/objects accepted anywhere in the body. */
  maxDepth?: number;
}

/** Parses an app's request body. Throws WireValidationError naming the field. */
export function parseChatRequest(body: unknown, meta: RequestMeta, opts: ParseOptions = {}): ChatRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new WireValidationError('The request body must be a JSON object.', null);
  }
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  const deep = findTooDeep(body, maxDepth);
  if (deep) {
    // Name the top-level field (and a bounded path): the full path of 10,000 levels is noise.
    const param = formatParam(deep.slice(0, 8)) + (deep.length > 8 ? '…' : '');
    throw new WireValidationError(`Invalid value for '${formatParam(deep.slice(0, 1))}': nested deeper than ${maxDepth} levels (at ${param}).`, formatParam(deep.slice(0, 1)) || null);
  }
  const raw = body as Record<string, unknown>;
  // The common shape is checked by hand (request-schema.ts): zod is the slowest step of a
  // request. Whatever the pre-check is not sure of goes to zod, which also words every error.
  if (isPlainChatBody(raw)) return fromWireRequest(raw, meta, raw);
  const parsed = chatRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new WireValidationError(describeIssue(issue), formatParam(issue.path) || null);
  }
  return fromWireRequest(parsed.data, meta, raw);
}

function fromWireMessage(m: WireChatRequest['messages'][number]): ChatMessage {
  switch (m.role) {
    // Direct writes rather than a conditional spread (same keys, same order, no temporary object).
    case 'system':
    case 'developer': {
      const out: ChatMessage = { role: m.role, content: m.content as string | ContentPart[] };
      if (m.name) out.name = m.name;
      return out;
    }
    case 'user': {
      const out: ChatMessage = { role: 'user', content: m.content as string | ContentPart[] };
      if (m.name) out.name = m.name;
      return out;
    }
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

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * `raw`: the body as parsed from JSON, whose unmodelled fields are forwarded exactly (zod's copy
 * drops a "__proto__" key). `w` may be `raw` itself (the pre-checked common shape): nothing
 * read from it is kept by reference but strings and numbers (`stop` is copied).
 */
export function fromWireRequest(w: WireChatRequest, meta: RequestMeta, raw: Record<string, unknown> = w): ChatRequest {
  // Null prototype: a field named "__proto__" stays a plain field to forward (with no
  // inherited __proto__ setter, assignment defines an ordinary own data property, exactly as
  // defineProperty with all flags true did). for…in + own-check lists what Object.entries did,
  // in the same order, without the entry arrays.
  const passthrough: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const k in raw) {
    if (!hasOwn.call(raw, k) || MODELLED.has(k)) continue;
    const v = raw[k];
    if (v !== undefined) passthrough[k] = v;
  }
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
  if (w.stop != null) p.stop = typeof w.stop === 'string' ? [w.stop] : w.stop.slice();
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
