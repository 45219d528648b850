import type { ChatChunk } from '../core/chat-response.js';
import { ProviderError } from '../core/provider-error.js';

/**
 * Pulls the first chunk of a stream (so failover can still happen if it never comes) and
 * returns an iterable that yields it and then the rest.
 */
export async function firstThenRest(chunks: AsyncIterable<ChatChunk>, signal: AbortSignal, provider: string): Promise<AsyncIterable<ChatChunk>> {
  const it = chunks[Symbol.asyncIterator]();
  const aborted = new Promise<never>((_, reject) => {
    const fail = () => reject(new ProviderError({ kind: 'timeout', provider, message: `${provider}: no first token in time` }));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
  aborted.catch(() => {});
  let first: IteratorResult<ChatChunk>;
  try {
    first = await Promise.race([it.next(), aborted]);
  } catch (err) {
    void it.return?.();
    throw err;
  }
  if (first.done) throw new ProviderError({ kind: 'server', provider, message: `${provider}: stream ended before any output` });
  const head = first.value;
  return {
    [Symbol.asyncIterator]() {
      let sentHead = false;
      return {
        next: () => {
          if (!sentHead) {
            sentHead = true;
            return Promise.resolve({ done: false, value: head });
          }
          return it.next();
        },
        return: async () => (await it.return?.()) ?? { done: true, value: undefined },
      };
    },
  };
}

/** Error code of a stream ended by the route's maxStreamMs: the router's decision, not an upstream fault. */
export const STREAM_TOO_LONG = 'stream_too_long';

/**
 * Fails a stream that goes silent for longer than `idleMs` (a stalled upstream), or that runs
 * longer than `maxMs` in all (an upstream that streams forever is not relayed forever).
 */
export async function* withIdleTimeout(chunks: AsyncIterable<ChatChunk>, idleMs: number, provider: string, maxMs = Infinity, now: () => number = () => performance.now()): AsyncIterable<ChatChunk> {
  const it = chunks[Symbol.asyncIterator]();
  const endAt = now() + maxMs;
  try {
    for (;;) {
      const left = endAt - now();
      const tooLong = left <= idleMs;
      let timer: NodeJS.Timeout | undefined;
      const stall = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              tooLong
                ? new ProviderError({ kind: 'timeout', provider, retryable: false, code: STREAM_TOO_LONG, message: `the stream ran longer than the route's maxStreamMs (${maxMs} ms)` })
                : new ProviderError({ kind: 'timeout', provider, message: `${provider}: stream stalled for ${idleMs} ms` }),
            ),
          Math.max(0, tooLong ? left : idleMs),
        );
      });
      let r: IteratorResult<ChatChunk>;
      try {
        r = await Promise.race([it.next(), stall]);
      } finally {
        clearTimeout(timer);
      }
      if (r.done) return;
      yield r.value;
    }
  } finally {
    void it.return?.();
  }
}
