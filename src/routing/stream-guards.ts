import type { ChatChunk } from '../core/chat-response.js';
import { isProviderError, ProviderError } from '../core/provider-error.js';

/**
 * Pulls the first chunk of a stream (so failover can still happen if it never comes) and
 * returns an iterable that yields it and then the rest.
 */
export async function firstThenRest(chunks: AsyncIterable<ChatChunk>, signal: AbortSignal, provider: string): Promise<AsyncIterable<ChatChunk>> {
  const it = chunks[Symbol.asyncIterator]();
  let fail: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    fail = () => reject(new ProviderError({ kind: 'timeout', provider, message: `${provider}: no first token in time` }));
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
  } finally {
    // The stream's later end (or abort) is not a first-token timeout: no error is built for it.
    signal.removeEventListener('abort', fail);
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
 * The timers of a stream: it fails when the upstream goes silent for longer than `idleMs` while
 * the router waits on it (a stalled upstream; time the router spends writing a chunk out, for a
 * slow app or a filter, does not count), or when it runs longer than `maxMs` in all (an upstream
 * that streams forever is not relayed forever). One timer for the whole stream, refreshed per
 * read, and one stall promise: no timer, promise or closure per chunk.
 */
function streamTimer(idleMs: number, provider: string, maxMs: number, now: () => number, fail: (err: Error) => void) {
  const endAt = now() + maxMs;
  let timer: NodeJS.Timeout | undefined;
  /** The timer now runs to the end of maxMs, not an idle period: it is no longer refreshed. */
  let final = false;
  /** A read is waiting on the upstream (only then does silence count as a stall). */
  let waiting = false;
  const onTimer = () => {
    if (final) {
      fail(new ProviderError({ kind: 'timeout', provider, retryable: false, code: STREAM_TOO_LONG, message: `the stream ran longer than the route's maxStreamMs (${maxMs} ms)` }));
      return;
    }
    // Fired while the router was busy with the last chunk: the next read starts a new period.
    if (waiting) fail(new ProviderError({ kind: 'timeout', provider, message: `${provider}: stream stalled for ${idleMs} ms` }));
  };
  return {
    /** A read starts waiting on the upstream: a new idle period (or the maxStreamMs timer takes over). */
    arm() {
      waiting = true;
      if (final) return;
      const left = endAt - now();
      if (left <= idleMs) {
        final = true;
        if (timer) clearTimeout(timer);
        timer = setTimeout(onTimer, Math.max(0, left));
      } else if (timer) timer.refresh();
      else timer = setTimeout(onTimer, idleMs);
    },
    /** The read got its chunk. */
    got() {
      waiting = false;
    },
    stop() {
      if (timer) clearTimeout(timer);
    },
  };
}

/** What a guarded stream reports and releases as it ends. */
export interface StreamGuard {
  /** The target's provider id (named in the timeout errors). */
  provider: string;
  /** The route's idleTimeoutMs and maxStreamMs. */
  idleMs: number;
  maxMs?: number;
  /** The app's signal: when it aborts, the slot is released at once (the upstream call follows it itself). */
  signal: AbortSignal;
  /** The target's concurrency slot, released exactly once however the stream ends. */
  slot: { release(): void };
  /** The stream ended whole. */
  ok(): void;
  /** The upstream broke or stalled after the first chunk (not a client leaving, not the route's length cap). */
  failed(err: ProviderError): void;
  /** The stream stopped early for any reason: the upstream call is closed (a stalled iterator may never notice return()). */
  abortUpstream(): void;
  /** The stream is over, whichever way (its call's links are undone). */
  over(): void;
  now?: () => number;
}

/**
 * A stream after its first chunk, in one iterator: the idle and maxStreamMs timers
 * (streamTimer), the gate told once how it ended, the upstream closed when it stops early,
 * and the slot released. One promise race per chunk, no generator layers.
 */
export function guardStream(chunks: AsyncIterable<ChatChunk>, g: StreamGuard): AsyncIterable<ChatChunk> {
  // From now, not from the first read: an app that leaves before anyone reads frees the slot too.
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    g.signal.removeEventListener('abort', release);
    g.slot.release();
  };
  if (g.signal.aborted) release();
  else g.signal.addEventListener('abort', release, { once: true });
  let ended = false;
  return {
    [Symbol.asyncIterator](): AsyncIterator<ChatChunk> {
      const it = chunks[Symbol.asyncIterator]();
      /** Rejects the read in progress (a timer fired while it waited). */
      let pending: ((err: unknown) => void) | undefined;
      /** A timer fired with no read waiting (only maxStreamMs can): the next read fails with it. */
      let stalled: Error | undefined;
      const timer = streamTimer(g.idleMs, g.provider, g.maxMs ?? Infinity, g.now ?? (() => performance.now()), (err) => {
        const reject = pending;
        pending = undefined;
        if (reject) reject(err);
        else stalled ??= err;
      });
      /** Ends it once: `completed` when the upstream finished the stream. */
      const end = (completed: boolean) => {
        if (ended) return;
        ended = true;
        timer.stop();
        release();
        if (!completed) g.abortUpstream();
        g.over();
      };
      const onChunk = (r: IteratorResult<ChatChunk>): IteratorResult<ChatChunk> => {
        timer.got();
        if (r.done && !ended) {
          g.ok();
          end(true);
        }
        return r;
      };
      const onError = (err: unknown): never => {
        // A client leaving or the route's own length cap says nothing about the target.
        if (!ended && isProviderError(err) && err.kind !== 'aborted' && err.code !== STREAM_TOO_LONG) g.failed(err);
        end(false);
        throw err;
      };
      return {
        next: () => {
          if (ended) return Promise.resolve({ done: true, value: undefined });
          if (stalled) return Promise.reject(stalled).catch(onError);
          timer.arm();
          // One promise and one reaction per chunk; the timer rejects the read it interrupts.
          return new Promise<IteratorResult<ChatChunk>>((resolve, reject) => {
            pending = reject;
            it.next().then(
              (r) => {
                if (pending !== reject) return; // a timer failed this read already
                pending = undefined;
                resolve(r);
              },
              (err: unknown) => {
                if (pending !== reject) return;
                pending = undefined;
                reject(err);
              },
            );
          }).then(onChunk, onError);
        },
        async return() {
          end(false);
          // Not awaited: a stalled upstream iterator may never settle its return().
          void Promise.resolve(it.return?.()).catch(() => {});
          return { done: true, value: undefined };
        },
      };
    },
  };
}
