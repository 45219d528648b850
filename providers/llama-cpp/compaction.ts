/**
 * History compaction: a small local model has a small context, and apps send whole
 * conversations. Keep every system turn (instructions matter most) and the newest other turns
 * that fit, dropping the oldest first. Token counts come from the caller (the model's own
 * tokenizer over the rendered chat template), so the fit is exact, not estimated.
 */
import type { WorkerTurn } from './protocol.js';

export interface CompactionResult {
  turns: WorkerTurn[];
  /** Non-system turns dropped from the front of the conversation. */
  dropped: number;
  /** Prompt tokens of `turns` as counted by `countTokens`. */
  promptTokens: number;
}

/**
 * Returns the longest suffix of the conversation (plus all system turns) whose prompt is at most
 * `budget` tokens. When even the newest turn alone does not fit, returns that minimal prompt
 * with its real count; the caller decides whether it is usable.
 *
 * Counting is monotonic in the number of turns kept, so a binary search needs only
 * O(log n) tokenizations of the rendered prompt.
 */
export function compactHistory(turns: readonly WorkerTurn[], budget: number, countTokens: (turns: WorkerTurn[]) => number): CompactionResult {
  const all = [...turns];
  const fullCount = countTokens(all);
  if (fullCount <= budget) return { turns: all, dropped: 0, promptTokens: fullCount };

  const droppable = all.map((turn, i) => (turn.role === 'system' ? -1 : i)).filter((i) => i >= 0);
  // Keep at least the newest non-system turn: without it there is nothing to answer.
  const maxDrop = Math.max(0, droppable.length - 1);
  const build = (drop: number): WorkerTurn[] => {
    const removed = new Set(droppable.slice(0, drop));
    return all.filter((_, i) => !removed.has(i));
  };

  // Smallest drop count that fits, by binary search over [1, maxDrop].
  let lo = 1;
  let hi = maxDrop;
  let best: { drop: number; count: number } | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const count = countTokens(build(mid));
    if (count <= budget) {
      best = { drop: mid, count };
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  let drop = best?.drop ?? maxDrop;
  // Do not open the kept history on an assistant (or tool-result) turn when a later user turn
  // exists: chat templates and models expect a conversation to resume with the user speaking.
  while (drop < maxDrop && all[droppable[drop] ?? -1]?.role === 'assistant') drop++;
  const kept = build(drop);
  const promptTokens = best && best.drop === drop ? best.count : countTokens(kept);
  return { turns: kept, dropped: drop, promptTokens };
}
