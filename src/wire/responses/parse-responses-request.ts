/**
 * App → router: a Responses API request body read and checked (responses-schema.ts), with its
 * input as chat messages. The echo fields (`tools`, `tool_choice`, `text`…) are kept in the
 * Responses form, for the Response object.
 */
import type { ChatMessage } from '../../core/chat-request.js';
import { isObj } from '../wire-common.js';
import { checkBodyShape, FieldError, fieldErrorOf } from './field-error.js';
import { inputToMessages } from './responses-input.js';
import { functionTool, responsesRequestSchema, textFormatSchema, toolChoiceSchema, type WireFunctionTool, type WireTextFormat, type WireToolChoice } from './responses-schema.js';

/** A checked Responses request. */
export interface ResponsesRequest {
  /** The route name the app asked for. */
  model: string;
  /** `input` as chat messages (without the instructions). */
  input: ChatMessage[];
  instructions: string | null;
  /** Function tools as the app sent them (echoed in the Response). */
  tools: WireFunctionTool[];
  toolChoice: WireToolChoice | undefined;
  textFormat: WireTextFormat | undefined;
  maxOutputTokens: number | null;
  temperature: number | null;
  topP: number | null;
  stream: boolean;
  /** Keep the response (GET, and `previous_response_id` of a later request); OpenAI's default is true. */
  store: boolean;
  previousResponseId: string | null;
  metadata: Record<string, string>;
  user: string | null;
  parallelToolCalls: boolean | null;
}

/** Throws FieldError naming the field (`param`). */
export function parseResponsesRequest(body: unknown, opts: { maxDepth?: number } = {}): ResponsesRequest {
  checkBodyShape(body, opts.maxDepth);
  const parsed = responsesRequestSchema.safeParse(body);
  if (!parsed.success) throw fieldErrorOf(parsed.error);
  const w = parsed.data;
  const tools = (w.tools ?? []).map((t, i): WireFunctionTool => {
    const type = isObj(t) ? t.type : undefined;
    if (type !== 'function') {
      const what = typeof type === 'string' ? `'${type}' tools are` : 'This tool is';
      throw new FieldError(`${what} not served by the router: only tools of type 'function' are (hosted tools run on OpenAI's side).`, `tools[${i}].type`, 'invalid_value');
    }
    const r = functionTool.safeParse(t);
    if (!r.success) throw fieldErrorOf(r.error, ['tools', i]);
    return r.data;
  });
  let toolChoice: WireToolChoice | undefined;
  if (w.tool_choice != null) {
    const r = toolChoiceSchema.safeParse(w.tool_choice);
    if (!r.success) throw fieldErrorOf(r.error, ['tool_choice']);
    toolChoice = r.data;
  }
  let textFormat: WireTextFormat | undefined;
  if (w.text?.format != null) {
    const r = textFormatSchema.safeParse(w.text.format);
    if (!r.success) throw fieldErrorOf(r.error, ['text', 'format']);
    textFormat = r.data;
  }
  const input = w.input == null ? [] : inputToMessages(w.input);
  return {
    model: w.model,
    input,
    instructions: w.instructions ?? null,
    tools,
    toolChoice,
    textFormat,
    maxOutputTokens: w.max_output_tokens ?? null,
    temperature: w.temperature ?? null,
    topP: w.top_p ?? null,
    stream: w.stream === true,
    store: w.store !== false,
    previousResponseId: w.previous_response_id ?? null,
    metadata: w.metadata ?? {},
    user: w.user ?? null,
    parallelToolCalls: w.parallel_tool_calls ?? null,
  };
}
