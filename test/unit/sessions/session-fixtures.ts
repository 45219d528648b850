import type { ChatMessage } from '../../../src/core/chat-request.js';
import { sessionsSchema, type SessionsConfig } from '../../../src/sessions/session-schema.js';

export const system = (text: string): ChatMessage => ({ role: 'system', content: text });
export const user = (text: string): ChatMessage => ({ role: 'user', content: text });
export const assistant = (text: string): ChatMessage => ({ role: 'assistant', content: text });
export const call = (id: string, name = 'lookup', args = '{}'): ChatMessage => ({
  role: 'assistant',
  content: null,
  toolCalls: [{ id, type: 'function', function: { name, arguments: args } }],
});
export const result = (id: string, text: string): ChatMessage => ({ role: 'tool', content: text, toolCallId: id });

/** A session config with test values over the defaults. */
export const config = (over: Partial<SessionsConfig> = {}): SessionsConfig => ({ ...sessionsSchema.parse({}), ...over });

/** The UTF-8 size of a message as the stores keep it (wire JSON, role first). */
export { encodeMessages } from '../../../src/sessions/session-codec.js';

/** The text of each message, for compact assertions ("u1", "a1", "call:c1", "tool:c1"). */
export function texts(messages: readonly ChatMessage[]): string[] {
  return messages.map((m) => {
    if (m.role === 'assistant' && m.toolCalls?.length) return `call:${m.toolCalls.map((c) => c.id).join(',')}`;
    if (m.role === 'tool') return `tool:${m.toolCallId}`;
    return typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
  });
}
