/**
 * Summarising a long conversation instead of dropping its oldest turns: when a session's
 * history grows past `triggerTokens` (estimated), the turns before the last `keepTurns` are
 * sent to another route (e.g. the local model) and replaced, in the store, by one assistant
 * message holding the summary, placed after the system prompt (which an app's new system prompt
 * still replaces). The summary call is metered like any request of the same caller.
 */
import { z } from 'zod';
import type { ChatMessage } from '../core/chat-request.js';
import { contentText } from '../core/chat-request.js';
import { estimateTokens } from '../routing/token-count.js';
import { leadingInstructions } from './session-codec.js';

export const sessionSummarySchema = z.strictObject({
  route: z.string().min(1).describe('Route that writes the summary (e.g. one on the local model).'),
  triggerTokens: z.number().int().min(100).describe('Estimated tokens of the stored history past which older turns are summarised.'),
  keepTurns: z.number().int().min(1).max(100).default(2).describe('Latest turns (user messages and what follows them) kept word for word.'),
  maxTokens: z.number().int().min(16).max(4_096).default(300).describe('max_tokens of the summary.'),
});

export type SessionSummaryConfig = z.output<typeof sessionSummarySchema>;

/** The marker that starts a stored summary (a later summary also summarises the earlier one). */
export const SUMMARY_PREFIX = 'Summary of the earlier conversation: ';

const PROMPT =
  'You summarise conversations. Write a short summary of the conversation below: the facts, names, numbers, decisions and open questions a continuation needs. Write only the summary.';

/** Estimated tokens of messages (text and tool calls). */
export function estimateMessages(messages: readonly ChatMessage[]): number {
  let n = 0;
  for (const m of messages) {
    n += 4 + estimateTokens(contentText(m.content as Parameters<typeof contentText>[0]));
    if (m.role === 'assistant') for (const t of m.toolCalls ?? []) n += estimateTokens(t.function.name + t.function.arguments);
  }
  return n;
}

/**
 * How the stored history splits: the system prompt, the turns to summarise, the turns kept.
 * Undefined when it is under the trigger or there is nothing old enough to summarise. A cut
 * falls only just before a user message, so a tool call stays with its results.
 */
export function planSummary(history: readonly ChatMessage[], cfg: SessionSummaryConfig): { lead: ChatMessage[]; old: ChatMessage[]; kept: ChatMessage[] } | undefined {
  if (estimateMessages(history) <= cfg.triggerTokens) return undefined;
  const leadN = leadingInstructions(history);
  const users: number[] = [];
  for (let i = leadN; i < history.length; i++) if (history[i]!.role === 'user') users.push(i);
  if (users.length <= cfg.keepTurns) return undefined;
  const cut = users[users.length - cfg.keepTurns]!;
  return { lead: history.slice(0, leadN), old: history.slice(leadN, cut), kept: history.slice(cut) };
}

/** The request messages for the summariser: the old turns as a transcript. */
export function summaryPrompt(old: readonly ChatMessage[]): ChatMessage[] {
  const lines = old.map((m) => {
    const text = contentText(m.content as Parameters<typeof contentText>[0]);
    const calls = m.role === 'assistant' && m.toolCalls?.length ? ` [called ${m.toolCalls.map((t) => `${t.function.name}(${t.function.arguments})`).join(', ')}]` : '';
    return `${m.role}: ${text}${calls}`;
  });
  return [
    { role: 'system', content: PROMPT },
    { role: 'user', content: lines.join('\n') },
  ];
}

/** The stored form of a summary. */
export function summaryMessage(summary: string): ChatMessage {
  return { role: 'assistant', content: `${SUMMARY_PREFIX}${summary.trim()}` };
}
