/** Router → OpenAI-style upstream: the request body sent for a ChatRequest. */
import type { ChatMessage, ChatRequest } from '../core/chat-request.js';

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
