/**
 * Request coalescing: identical requests in flight at the same time share one upstream call.
 *
 * Abort semantics (both coalescers): the shared call runs with an AbortSignal of its own, never
 * a caller's. A caller whose signal aborts leaves at once (its promise rejects with the signal's
 * reason) and the others go on; the shared signal aborts only when every participant has left,
 * so the leader's disconnect never kills its followers, and nobody pays for an answer nobody
 * waits for. A caller without a signal never leaves early. Once the shared call is aborted, or
 * has settled, its key is free: the next caller starts a new call. Nothing is cached here: a
 * failure reaches everyone waiting on that call, and the next call runs again.
 */
import { abortReason } from './abort-reason.js';

export { createStreamCoalescer, type JoinedStream, type StreamCoalescer, type StreamCoalescerOptions } from './stream-coalescer.js';

export interface Coalescer<T> {
  /**
   * Runs `fn` for `key`, or joins the call already in flight for it. `shared` is false for the
   * caller whose `fn` ran, true for those who joined. Every caller gets the same `value` object:
   * treat it as read-only (clone before changing it).
   */
  run(key: string, fn: (signal: AbortSignal) => Promise<T>, callerSignal?: AbortSignal): Promise<{ value: T; shared: boolean }>;
  /** Calls in flight. */
  inFlight(): number;
  /** Counters since start: calls made, callers that joined one. */
  stats(): { calls: number; joined: number };
}

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  /** Participants that have not left. */
  present: number;
}

export function createCoalescer<T>(): Coalescer<T> {
  const flights = new Map<string, Flight<T>>();
  const counts = { calls: 0, joined: 0 };

  const release = (key: string, flight: Flight<T>) => {
    if (flights.get(key) === flight) flights.delete(key);
  };

  return {
    run(key, fn, callerSignal) {
      if (callerSignal?.aborted) return Promise.reject(abortReason(callerSignal));
      let flight = flights.get(key);
      const shared = flight !== undefined;
      if (!flight) {
        const controller = new AbortController();
        const started = flight = { promise: (async () => fn(controller.signal))(), controller, present: 0 };
        flights.set(key, started);
        counts.calls++;
        started.promise.then(() => release(key, started), () => release(key, started));
      } else {
        counts.joined++;
      }
      const f = flight;
      f.present++;
      return new Promise((resolve, reject) => {
        const onAbort = () => {
          reject(abortReason(callerSignal!));
          if (--f.present === 0) {
            release(key, f); // an aborted call is never joined
            f.controller.abort(abortReason(callerSignal!));
          }
        };
        callerSignal?.addEventListener('abort', onAbort, { once: true });
        const done = () => callerSignal?.removeEventListener('abort', onAbort);
        f.promise.then(
          (value) => {
            done();
            resolve({ value, shared });
          },
          (err: unknown) => {
            done();
            reject(err);
          },
        );
      });
    },
    inFlight() {
      return flights.size;
    },
    stats() {
      return { ...counts };
    },
  };
}
