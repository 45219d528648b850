/**
 * Chat requests and streams in flight, for graceful shutdown: the drain waits for them, and
 * when the drain time is up it tells each one to stop (its `signal` aborts), so streams end with
 * a `server_shutting_down` error event and `[DONE]` and answers not yet started get a 503.
 */
import type { ServerResponse } from 'node:http';
import { wireError, type WireError } from './http-errors.js';

export const SHUTTING_DOWN = 'server_shutting_down';

export interface Flight {
  /** Aborts when the drain time is up: stop, and end the answer with the shutdown error. */
  readonly signal: AbortSignal;
  /** The request is over (answered, failed or client gone). Idempotent. */
  done(): void;
}

export interface InflightRegistry {
  /** Registers one request; call done() when it is over. */
  begin(res: ServerResponse): Flight;
  readonly size: number;
  /** Tells every request still in flight to stop now. */
  interrupt(): void;
  /** Resolves when nothing is in flight. */
  idle(): Promise<void>;
}

export function createInflightRegistry(): InflightRegistry {
  const live = new Map<ServerResponse, AbortController>();
  let waiters: Array<() => void> = [];
  const settle = () => {
    if (live.size) return;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  return {
    begin(res) {
      const ctl = new AbortController();
      live.set(res, ctl);
      let over = false;
      return {
        signal: ctl.signal,
        done() {
          if (over) return;
          over = true;
          live.delete(res);
          settle();
        },
      };
    },
    get size() {
      return live.size;
    },
    interrupt() {
      for (const ctl of live.values()) ctl.abort(new DOMException('the router is shutting down', 'AbortError'));
    },
    idle() {
      return live.size ? new Promise<void>((resolve) => waiters.push(resolve)) : Promise.resolve();
    },
  };
}

/** The answer a request not yet answered gets when the drain time is up. */
export function shuttingDownError(): WireError {
  return { ...wireError(503, 'The router is shutting down; retry the request.', 'service_unavailable', null, SHUTTING_DOWN), headers: { 'retry-after': '1', connection: 'close' } };
}

/** The error event that ends a stream cut by the shutdown. */
export function shuttingDownEvent(): string {
  return JSON.stringify({ error: { message: 'The router is shutting down: the stream was ended before it finished.', type: 'server_error', param: null, code: SHUTTING_DOWN } });
}

/** Rejects with the signal's reason as soon as it aborts (the promise itself is left to settle). */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      p.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * The chunks of a stream, ending (with the signal's reason) as soon as the signal aborts. One
 * abort listener and one promise for the whole stream, not one per chunk.
 */
export function abortable<T>(chunks: AsyncIterable<T>, signal: AbortSignal): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const it = chunks[Symbol.asyncIterator]();
      let onAbort = () => {};
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
      });
      aborted.catch(() => {});
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      let over = false;
      const stop = () => {
        over = true;
        signal.removeEventListener('abort', onAbort);
        void Promise.resolve(it.return?.()).catch(() => {});
      };
      return {
        async next(): Promise<IteratorResult<T>> {
          if (over) return { done: true, value: undefined };
          try {
            const r = await Promise.race([it.next(), aborted]);
            if (r.done) stop();
            return r;
          } catch (err) {
            stop();
            throw err;
          }
        },
        async return(): Promise<IteratorResult<T>> {
          if (!over) stop();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
