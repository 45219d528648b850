/**
 * Router → app: the Responses API `Response` object, built from the chat path's answer (a
 * chat.completion, read with a deliberately loose schema: only what is needed), and the
 * pieces the stream encoder shares with it (ids, status, usage, output items).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Obj } from '../wire-common.js';
import type { ResponsesRequest } from './parse-responses-request.js';

/** `resp_…`, `msg_…`, `fc_…`: a prefix and 24 random bytes in hex (valid session ids too). */
export const newId = (prefix: 'resp' | 'msg' | 'fc', random: (n: number) => Buffer = randomBytes) => `${prefix}_${random(24).toString('hex')}`;

export const chatUsageSchema = z.looseObject({
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  total_tokens: z.number().optional(),
  prompt_tokens_details: z.looseObject({ cached_tokens: z.number().optional(), cache_write_tokens: z.number().optional() }).nullish(),
  completion_tokens_details: z.looseObject({ reasoning_tokens: z.number().optional() }).nullish(),
  /** The router's own extension on streamed usage: the cost in USD (null: price unknown). */
  cost_usd: z.number().nullish(),
});
export type ChatUsage = z.output<typeof chatUsageSchema>;

const toolCallSchema = z.looseObject({ id: z.string(), function: z.looseObject({ name: z.string(), arguments: z.string() }) });

export const chatCompletionSchema = z.looseObject({
  object: z.literal('chat.completion'),
  model: z.string(),
  choices: z
    .array(
      z.looseObject({
        message: z.looseObject({ content: z.string().nullish(), refusal: z.string().nullish(), tool_calls: z.array(toolCallSchema).nullish() }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: chatUsageSchema.nullish(),
});
export type ChatCompletion = z.output<typeof chatCompletionSchema>;

/** Identity of one response: its id and creation time (Unix seconds). */
export interface ResponseEnvelope {
  id: string;
  createdAt: number;
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** A finish reason's status: `length` → incomplete (max_output_tokens), `content_filter` → incomplete (content_filter). */
export function statusOf(finishReason: string | null | undefined): { status: 'completed' | 'incomplete'; incompleteDetails: { reason: string } | null } {
  switch (finishReason) {
    case 'length':
      return { status: 'incomplete', incompleteDetails: { reason: 'max_output_tokens' } };
    case 'content_filter':
      return { status: 'incomplete', incompleteDetails: { reason: 'content_filter' } };
    default:
      return { status: 'completed', incompleteDetails: null };
  }
}

/** Chat usage as Responses usage (details OpenAI always sends default to 0). */
export function toResponseUsage(u: ChatUsage | null | undefined): Obj | null {
  if (!u) return null;
  const out: Obj = {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0, cache_write_tokens: u.prompt_tokens_details?.cache_write_tokens ?? 0 },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: u.total_tokens ?? u.prompt_tokens + u.completion_tokens,
  };
  if (u.cost_usd !== undefined) out.cost_usd = u.cost_usd;
  return out;
}

/** The Response before any output: what `response.created` carries, and the base of every later form. */
export function responseShell(req: ResponsesRequest, env: ResponseEnvelope, model: string): Obj {
  return {
    id: env.id,
    object: 'response',
    created_at: env.createdAt,
    status: 'in_progress',
    background: false,
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: req.instructions,
    max_output_tokens: req.maxOutputTokens,
    model,
    output: [],
    parallel_tool_calls: req.parallelToolCalls ?? true,
    previous_response_id: req.previousResponseId,
    reasoning: null,
    store: req.store,
    temperature: req.temperature,
    text: { format: req.textFormat ?? { type: 'text' } },
    tool_choice: req.toolChoice ?? 'auto',
    tools: req.tools.map((t) => ({ type: 'function', name: t.name, description: t.description ?? null, parameters: t.parameters ?? null, strict: t.strict ?? null })),
    top_p: req.topP,
    truncation: 'disabled',
    usage: null,
    user: req.user,
    metadata: req.metadata,
  };
}

/** An assistant `message` output item. */
export function messageItem(id: string, status: string, text: string, refusal?: string | null): Obj {
  const content: Obj[] = [];
  if (text || refusal == null) content.push({ type: 'output_text', text, annotations: [], logprobs: [] });
  if (refusal != null) content.push({ type: 'refusal', refusal });
  return { id, type: 'message', status, role: 'assistant', content };
}

/** A `function_call` output item. */
export function functionCallItem(id: string, status: string, callId: string, name: string, args: string): Obj {
  return { id, type: 'function_call', status, call_id: callId, name, arguments: args };
}

/** The Response for a whole chat completion (its first choice: Responses has one). */
export function fromChatCompletion(req: ResponsesRequest, env: ResponseEnvelope, completion: ChatCompletion, now = Math.floor(Date.now() / 1000)): Obj {
  const choice = completion.choices[0]!;
  const { status, incompleteDetails } = statusOf(choice.finish_reason);
  const m = choice.message;
  const output: Obj[] = [];
  const calls = m.tool_calls ?? [];
  // A message when there is text (or a refusal), or when there is nothing else to show.
  if (m.content || m.refusal != null || calls.length === 0) output.push(messageItem(newId('msg'), status, m.content ?? '', m.refusal));
  for (const c of calls) output.push(functionCallItem(newId('fc'), status, c.id, c.function.name, c.function.arguments));
  return {
    ...responseShell(req, env, completion.model),
    status,
    completed_at: status === 'completed' ? now : null,
    incomplete_details: incompleteDetails,
    output,
    usage: toResponseUsage(completion.usage),
  };
}
