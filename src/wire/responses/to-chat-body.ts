/**
 * A Responses request as the Chat Completions body the router's own chat path serves: the
 * instructions as a first system message, then the stored conversation (previous_response_id),
 * then the new input. Built through the internal ChatRequest and the one router → wire mapping
 * (`toWireRequest`), so field names are written in one place.
 */
import type { ChatMessage, ChatRequest, ToolChoice, ToolDef } from '../../core/chat-request.js';
import { toWireRequest } from '../upstream-request.js';
import { FieldError } from './field-error.js';
import type { ResponsesRequest } from './parse-responses-request.js';
import type { WireFunctionTool, WireTextFormat, WireToolChoice } from './responses-schema.js';

function toolDef(t: WireFunctionTool): ToolDef {
  const fn: ToolDef['function'] = { name: t.name };
  if (t.description != null) fn.description = t.description;
  if (t.parameters != null) fn.parameters = t.parameters;
  if (t.strict != null) fn.strict = t.strict;
  return { type: 'function', function: fn };
}

function toolChoice(c: WireToolChoice): ToolChoice {
  return typeof c === 'string' ? c : { type: 'function', function: { name: c.name } };
}

function responseFormat(f: WireTextFormat): NonNullable<ChatRequest['params']['responseFormat']> {
  if (f.type !== 'json_schema') return { type: f.type };
  return {
    type: 'json_schema',
    jsonSchema: { name: f.name, schema: f.schema, ...(f.description != null ? { description: f.description } : {}), ...(f.strict != null ? { strict: f.strict } : {}) },
  };
}

/** The chat messages a request sends: instructions, `history` (an earlier response's conversation), the input. */
export function chatMessagesOf(req: ResponsesRequest, history: readonly ChatMessage[]): ChatMessage[] {
  const lead: ChatMessage[] = req.instructions ? [{ role: 'system', content: req.instructions }] : [];
  return [...lead, ...history, ...req.input];
}

/** The chat completion body for `req` (stream: with usage). Throws FieldError when there is nothing to send. */
export function toChatBody(req: ResponsesRequest, history: readonly ChatMessage[]): Record<string, unknown> {
  const messages = chatMessagesOf(req, history);
  if (!messages.some((m) => m.role !== 'system' && m.role !== 'developer')) {
    throw new FieldError("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  }
  const chat: ChatRequest = {
    model: req.model,
    messages,
    params: {},
    stream: req.stream,
    includeUsage: req.stream,
    passthrough: Object.create(null) as Record<string, unknown>,
    meta: { requestId: 'responses', receivedAt: 0 },
  };
  const p = chat.params;
  if (req.maxOutputTokens != null) {
    p.maxTokens = req.maxOutputTokens;
    p.maxTokensField = 'max_completion_tokens';
  }
  if (req.temperature != null) p.temperature = req.temperature;
  if (req.topP != null) p.topP = req.topP;
  if (req.textFormat) p.responseFormat = responseFormat(req.textFormat);
  if (req.user != null) p.user = req.user;
  if (req.tools.length) {
    chat.tools = req.tools.map(toolDef);
    // OpenAI's chat endpoint refuses parallel_tool_calls without tools.
    if (req.parallelToolCalls != null) p.parallelToolCalls = req.parallelToolCalls;
  }
  if (req.toolChoice !== undefined) chat.toolChoice = toolChoice(req.toolChoice);
  return toWireRequest(chat, req.model);
}

/** The Responses field for a `param` the chat path named in an error (its names are the chat body's). */
export function responsesParamOf(param: string | null): string | null {
  if (param === null) return null;
  if (param === 'max_completion_tokens' || param === 'max_tokens') return 'max_output_tokens';
  if (param.startsWith('response_format')) return 'text.format';
  if (param.startsWith('messages')) return 'input';
  const tool = /^tools\[(\d+)\](?:\.function)?(.*)$/.exec(param);
  if (tool) return `tools[${tool[1]}]${tool[2]}`;
  if (param.startsWith('tool_choice')) return 'tool_choice';
  return param;
}
