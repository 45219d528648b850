import type { CachedAnswer } from '../../../src/cache/response-cache.js';

/** A cached answer whose text is `text` (its JSON grows with it). */
export function cachedAnswer(text: string, storedAt = 0, route = 'chat'): CachedAnswer {
  return {
    route,
    storedAt,
    response: {
      id: 'chatcmpl-1',
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { content: text }, finishReason: 'stop' }],
      usage: { promptTokens: 3, completionTokens: 1, totalTokens: 4 },
    },
  };
}

/** A fake epoch clock. */
export function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}
