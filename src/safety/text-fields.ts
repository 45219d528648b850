import type { ChatMessage, ContentPart } from '../core/chat-request.js';

/**
 * Every piece of text a request carries to a model: message contents (strings and text parts),
 * tool results, the arguments of earlier tool calls and earlier refusals. `fn` returns the text
 * to keep (the same string when nothing changes); messages are rewritten in place.
 */
export function rewriteMessageTexts(messages: ChatMessage[], fn: (text: string) => string): void {
  const content = (c: string | ContentPart[] | null): string | ContentPart[] | null => {
    if (c == null) return c;
    if (typeof c === 'string') return fn(c);
    let changed = false;
    const parts = c.map((p) => {
      if (p.type !== 'text' || typeof p.text !== 'string') return p;
      const text = fn(p.text);
      if (text === p.text) return p;
      changed = true;
      return { ...p, text };
    });
    return changed ? parts : c;
  };
  for (const m of messages) {
    switch (m.role) {
      case 'assistant': {
        m.content = content(m.content);
        if (typeof m.refusal === 'string') m.refusal = fn(m.refusal);
        if (m.toolCalls) {
          let changed = false;
          const calls = m.toolCalls.map((t) => {
            const args = fn(t.function.arguments);
            if (args === t.function.arguments) return t;
            changed = true;
            return { ...t, function: { ...t.function, arguments: args } };
          });
          if (changed) m.toolCalls = calls;
        }
        break;
      }
      case 'function':
        m.content = m.content == null ? m.content : fn(m.content);
        break;
      default:
        m.content = content(m.content) as string | ContentPart[];
    }
  }
}

/** Every text of the messages joined (for placeholder reservation and text capture). */
export function messageTexts(messages: ChatMessage[]): string[] {
  const out: string[] = [];
  rewriteMessageTexts(messages, (t) => {
    out.push(t);
    return t;
  });
  return out;
}
