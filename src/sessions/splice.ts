/**
 * How a stored conversation and an app's new turn become one request, and what of it is
 * stored afterwards.
 *
 * The system prompt: a conversation's leading system/developer messages. When the new turn
 * starts with system/developer messages, they are the system prompt in force: they replace
 * the stored one (apps that resend their system prompt on every turn get it once, not once per
 * turn; an app that changes it gets the new one, and keeps it on later turns that send none).
 * When it does not, the stored one stays. System/developer messages later in a conversation
 * are ordinary history. The session store applies the same rule on append, so the stored
 * conversation after a turn is always exactly what the model saw plus its answer.
 */
import type { ChatMessage } from '../core/chat-request.js';
import type { ChatChoice } from '../core/chat-response.js';
import { leadingInstructions } from './session-codec.js';

export interface Spliced {
  /** The request's messages: the system prompt in force, the stored history, the new turn. */
  messages: ChatMessage[];
  /** Earlier turns (user messages of the history) put before the new one. */
  turns: number;
  /** Stored messages put before the new ones (the stored system prompt included unless replaced). */
  history: number;
}

/** The stored conversation, then the new messages; see the module comment for the system prompt. */
export function spliceHistory(stored: readonly ChatMessage[], incoming: readonly ChatMessage[]): Spliced {
  const newLead = leadingInstructions(incoming);
  const history = newLead > 0 ? stored.slice(leadingInstructions(stored)) : stored;
  const messages = newLead > 0 ? [...incoming.slice(0, newLead), ...history, ...incoming.slice(newLead)] : [...stored, ...incoming];
  return { messages, turns: history.filter((m) => m.role === 'user').length, history: history.length };
}

/**
 * What to append to the session after a successful answer: the new turn as the app sent it
 * and the assistant's answer (tool calls included). A system prompt at its start is kept: the
 * store puts it in place of the stored one (see the module comment), never beside it.
 */
export function toStore(incoming: readonly ChatMessage[], answer: ChatMessage): ChatMessage[] {
  return [...incoming, answer];
}

/** The assistant message of a choice, as a conversation stores it. */
export function answerMessage(choice: ChatChoice['message']): ChatMessage {
  const out: ChatMessage = { role: 'assistant', content: choice.content };
  if (choice.toolCalls?.length) out.toolCalls = choice.toolCalls;
  if (choice.refusal != null) out.refusal = choice.refusal;
  return out;
}
