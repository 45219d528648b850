import { z } from 'zod';

/**
 * Strict-where-it-matters schema of an inbound Chat Completions request. Modelled fields are
 * type- and range-checked (a bad value is a 400 naming the field); fields the router does not
 * model are allowed through (`looseObject`) and forwarded untouched to OpenAI-style upstreams.
 */
const textPart = z.looseObject({ type: z.literal('text'), text: z.string() });
const otherPart = z.looseObject({ type: z.string().min(1) });
const contentParts = z.array(z.union([textPart, otherPart])).min(1);

const toolCall = z.looseObject({
  id: z.string(),
  type: z.literal('function').default('function'),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

const message = z.discriminatedUnion('role', [
  z.looseObject({ role: z.enum(['system', 'developer']), content: z.union([z.string(), contentParts]), name: z.string().optional() }),
  z.looseObject({ role: z.literal('user'), content: z.union([z.string(), contentParts]), name: z.string().optional() }),
  z.looseObject({
    role: z.literal('assistant'),
    content: z.union([z.string(), contentParts]).nullish(),
    name: z.string().optional(),
    tool_calls: z.array(toolCall).optional(),
    refusal: z.string().nullish(),
    function_call: z.looseObject({ name: z.string(), arguments: z.string() }).nullish(),
  }),
  z.looseObject({ role: z.literal('tool'), content: z.union([z.string(), contentParts]), tool_call_id: z.string() }),
  z.looseObject({ role: z.literal('function'), content: z.string().nullable(), name: z.string() }),
]);

const tool = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a-z, A-Z, 0-9, underscores and dashes, at most 64 characters'),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullish(),
  }),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) }),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({
      name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a-z, A-Z, 0-9, underscores and dashes, at most 64 characters'),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const positiveInt = z.number().int().min(1);

export const chatRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(message).min(1),
  max_tokens: positiveInt.nullish(),
  max_completion_tokens: positiveInt.nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  seed: z.number().int().nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  response_format: responseFormat.optional(),
  tools: z.array(tool).max(128).optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: z.boolean().optional(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  user: z.string().optional(),
});

export type WireChatRequest = z.infer<typeof chatRequestSchema>;

/*
 * A hand-written pre-check of the common request shape (string contents, scalar sampling
 * fields): zod's safeParse costs ~1.4 µs and ~3 KB per typical body, this a few dozen ns and
 * nothing. It answers true only when `chatRequestSchema` certainly accepts the body AND zod's
 * output equals the input on every field `fromWireRequest` reads (nothing defaulted or
 * transformed that is read). Anything else it is not sure of (content parts, tools, tool_choice
 * objects, json_schema, function messages, any out-of-range or odd-typed value) answers false,
 * and zod parses the body and words the error exactly as before. Each line mirrors one entry of
 * the schema above: keep them in step (test/unit/wire/fast-chat-shape.test.ts compares the two).
 */

/** z.number(): a number, not NaN, finite. `.min(lo).max(hi)` inclusive; `.nullish()`: null or undefined too. */
const numIn = (v: unknown, lo: number, hi: number): boolean => v == null || (typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi);
/** z.number().int(): a safe integer (zod's `int` is `Number.isSafeInteger`). */
const intIn = (v: unknown, lo: number, hi: number): boolean => v == null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= lo && v <= hi);
const optString = (v: unknown): boolean => v === undefined || typeof v === 'string';
const nullishString = (v: unknown): boolean => v == null || typeof v === 'string';
const nullishBool = (v: unknown): boolean => v == null || typeof v === 'boolean';
/** zod's object check: not null, not an array. */
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `toolCall`: `type` may be absent (zod defaults it; fromWireMessage never reads it). */
function isPlainToolCall(c: unknown): boolean {
  if (!isObject(c) || typeof c.id !== 'string' || (c.type !== undefined && c.type !== 'function')) return false;
  const f = c.function;
  return isObject(f) && typeof f.name === 'string' && typeof f.arguments === 'string';
}

/** One `message` with a string content (content parts and `function` messages go to zod). */
function isPlainMessage(m: unknown): boolean {
  if (!isObject(m)) return false;
  switch (m.role) {
    case 'system':
    case 'developer':
    case 'user':
      return typeof m.content === 'string' && optString(m.name);
    case 'assistant': {
      if (!nullishString(m.content) || !optString(m.name) || !nullishString(m.refusal) || m.function_call != null) return false;
      const calls = m.tool_calls;
      if (calls === undefined) return true;
      if (!Array.isArray(calls)) return false;
      for (let i = 0; i < calls.length; i++) if (!isPlainToolCall(calls[i])) return false;
      return true;
    }
    case 'tool':
      return typeof m.content === 'string' && typeof m.tool_call_id === 'string';
    default:
      return false;
  }
}

/** True only when `chatRequestSchema` accepts `b` and yields it unchanged where read (see above). */
export function isPlainChatBody(b: Record<string, unknown>): b is WireChatRequest {
  if (typeof b.model !== 'string' || b.model.length < 1) return false;
  const messages = b.messages;
  if (!Array.isArray(messages) || messages.length < 1) return false;
  for (let i = 0; i < messages.length; i++) if (!isPlainMessage(messages[i])) return false;
  const stop = b.stop;
  if (stop != null && typeof stop !== 'string') {
    if (!Array.isArray(stop) || stop.length > 4) return false;
    for (let i = 0; i < stop.length; i++) if (typeof stop[i] !== 'string') return false;
  }
  const so = b.stream_options;
  if (so != null && !(isObject(so) && (so.include_usage === undefined || typeof so.include_usage === 'boolean'))) return false;
  const rf = b.response_format;
  if (rf !== undefined && !(isObject(rf) && (rf.type === 'text' || rf.type === 'json_object'))) return false;
  const tc = b.tool_choice;
  return (
    intIn(b.max_tokens, 1, Number.MAX_SAFE_INTEGER) &&
    intIn(b.max_completion_tokens, 1, Number.MAX_SAFE_INTEGER) &&
    numIn(b.temperature, 0, 2) &&
    numIn(b.top_p, 0, 1) &&
    intIn(b.n, 1, 128) &&
    intIn(b.seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) &&
    numIn(b.presence_penalty, -2, 2) &&
    numIn(b.frequency_penalty, -2, 2) &&
    nullishBool(b.logprobs) &&
    intIn(b.top_logprobs, 0, 20) &&
    b.tools === undefined &&
    (tc === undefined || tc === 'none' || tc === 'auto' || tc === 'required') &&
    (b.parallel_tool_calls === undefined || typeof b.parallel_tool_calls === 'boolean') &&
    nullishBool(b.stream) &&
    optString(b.user)
  );
}
