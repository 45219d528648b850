import type { ToolCall } from '../core/chat-request.js';
import type { ChatChoice, ChatResponse, ChatStream } from '../core/chat-response.js';

/**
 * Reads a whole stream into the answer it adds up to (text and tool calls per choice, finish
 * reasons, usage), noting when the first chunk came: how a streamed shadow call is judged.
 */
export async function collectStream(stream: ChatStream, startedAt: number, now: () => number): Promise<{ response: ChatResponse; ttftMs?: number }> {
  let ttftMs: number | undefined;
  const choices = new Map<number, { text: string; tools: Map<number, ToolCall>; finish?: ChatChoice['finishReason'] }>();
  const choice = (index: number) => {
    let c = choices.get(index);
    if (!c) choices.set(index, (c = { text: '', tools: new Map() }));
    return c;
  };
  const response: ChatResponse = { model: stream.model, choices: [] };
  for await (const chunk of stream.chunks) {
    ttftMs ??= now() - startedAt;
    if (chunk.type === 'usage') {
      response.usage = chunk.usage;
    } else if (chunk.type === 'finish') {
      choice(chunk.index).finish = chunk.finish;
    } else {
      const c = choice(chunk.index);
      if (chunk.text) c.text += chunk.text;
      for (const d of chunk.toolCalls ?? []) {
        const call = c.tools.get(d.index) ?? { id: d.id ?? '', type: 'function' as const, function: { name: '', arguments: '' } };
        if (d.id) call.id = d.id;
        if (d.function?.name) call.function.name += d.function.name;
        if (d.function?.arguments) call.function.arguments += d.function.arguments;
        c.tools.set(d.index, call);
      }
    }
  }
  response.choices = [...choices].map(([index, c]) => ({
    index,
    message: { content: c.text === '' && c.tools.size ? null : c.text, ...(c.tools.size ? { toolCalls: [...c.tools.values()] } : {}) },
    finishReason: c.finish ?? 'stop',
  }));
  return ttftMs === undefined ? { response } : { response, ttftMs };
}
