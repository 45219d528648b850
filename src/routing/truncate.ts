/**
 * Drop-oldest truncation of a conversation that does not fit a context (a route's
 * `truncation: { mode: drop_oldest }`). Pure: the messages are never changed, and the token
 * count is the caller's (the same bounded counter as the fit check).
 *
 * What is kept, always: every system and developer message (in place), the last user message
 * and everything after it, and any assistant message whose tool calls are answered there.
 * What may go, oldest first, a turn at a time: a user message with the replies up to the next
 * user message (assistant answers, tool calls and their results), so the conversation still
 * starts with a user turn and alternates as chat templates expect. An assistant message with
 * tool_calls is never split from the tool messages that answer it: turns linked by a call id
 * go together.
 */
import type { ChatMessage } from '../core/chat-request.js';

/** Response header saying how many messages were dropped, e.g. "4 messages". */
export const TRUNCATED_HEADER = 'x-router-truncated';

/** The outcome of `dropOldest`. */
export type Truncation =
  /** `messages` fits (the input itself when nothing had to go); `dropped` messages were left out. */
  | { fits: true; messages: ChatMessage[]; dropped: number; tokens: number }
  /** Even the minimal conversation (what is always kept) needs `tokens`. */
  | { fits: false; tokens: number };

const isInstruction = (m: ChatMessage) => m.role === 'system' || m.role === 'developer';

/**
 * The groups of message indices that may be dropped, oldest first (see the module comment).
 * Exported for tests.
 */
export function droppableGroups(messages: readonly ChatMessage[]): number[][] {
  // The last user message starts what is always kept (without one: the last message).
  let tail = messages.length - 1;
  while (tail > 0 && messages[tail]!.role !== 'user') tail--;
  if (messages[tail]?.role !== 'user') tail = messages.length - 1;
  // Turn of each droppable message; -1: always kept.
  const turn = new Array<number>(messages.length).fill(-1);
  // Each user message starts a turn; messages before the first one are a turn of their own.
  let current = -1;
  for (let i = 0; i < tail; i++) {
    const m = messages[i]!;
    if (isInstruction(m)) continue;
    if (current < 0) current = 0;
    else if (m.role === 'user') current++;
    turn[i] = current;
  }
  // Turns linked by a tool call id (an assistant's call, a tool message answering it) go together;
  // one linked to the kept tail is kept.
  const parent = Array.from({ length: current + 1 }, (_, i) => i);
  const root = (t: number): number => (parent[t] === t ? t : (parent[t] = root(parent[t]!)));
  const pinned = new Set<number>();
  const caller = new Map<string, number>();
  messages.forEach((m, i) => {
    if (m.role === 'assistant' && turn[i]! >= 0) for (const c of m.toolCalls ?? []) caller.set(c.id, turn[i]!);
  });
  messages.forEach((m, i) => {
    if (m.role !== 'tool') return;
    const t = caller.get(m.toolCallId);
    if (t === undefined) return;
    if (turn[i]! < 0) pinned.add(root(t));
    else {
      const [a, b] = [root(t), root(turn[i]!)];
      if (a !== b) {
        parent[Math.max(a, b)] = Math.min(a, b);
        if (pinned.delete(Math.max(a, b))) pinned.add(Math.min(a, b));
      }
    }
  });
  const groups = new Map<number, number[]>();
  turn.forEach((t, i) => {
    if (t < 0) return;
    const r = root(t);
    if (pinned.has(r)) return;
    let g = groups.get(r);
    if (!g) groups.set(r, (g = []));
    g.push(i);
  });
  // A root is its group's smallest turn, so ascending roots are oldest first.
  return [...groups.keys()].sort((a, b) => a - b).map((r) => groups.get(r)!);
}

/**
 * Drops the oldest turns of `messages` until `count` (the prompt tokens of a request with
 * these messages) is at most `budget` (the context less max_tokens), dropping as little as
 * possible. Messages that already fit are returned untouched. Calls `count` O(log turns)
 * times (a binary search on how many turns go).
 */
export async function dropOldest(messages: readonly ChatMessage[], budget: number, count: (messages: ChatMessage[]) => Promise<number>): Promise<Truncation> {
  const all = messages as ChatMessage[];
  const full = await count(all);
  if (full <= budget) return { fits: true, messages: all, dropped: 0, tokens: full };
  const groups = droppableGroups(messages);
  const without = (k: number): ChatMessage[] => {
    const gone = new Set(groups.slice(0, k).flat());
    return messages.filter((_, i) => !gone.has(i));
  };
  let best = without(groups.length);
  let bestTokens = groups.length ? await count(best) : full;
  if (bestTokens > budget) return { fits: false, tokens: bestTokens };
  // Invariant: dropping `lo` groups does not fit, dropping `hi` does (and gave `best`).
  let lo = 0;
  let hi = groups.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const candidate = without(mid);
    const tokens = await count(candidate);
    if (tokens <= budget) {
      hi = mid;
      best = candidate;
      bestTokens = tokens;
    } else lo = mid;
  }
  return { fits: true, messages: best, dropped: messages.length - best.length, tokens: bestTokens };
}
