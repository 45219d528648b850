/**
 * Chat requests and streams in flight, for graceful shutdown: the drain waits for them, and
 * when the drain time is up it tells each one to stop (its `signal` aborts), so streams end with
 * a `server_shutting_down` error event and `[DONE]` and answers not yet started get a 503.
 */
import type { ServerResponse } from 'node:http';
import { LightController } from '../core/light-abort.js';
import { LiveList, type LiveEntry } from '../core/live-list.js';
import { wireError, type WireError } from './http-errors.js';

export const SHUTTING_DOWN = 'server_shutting_down';

export interface Flight {
  /**
   * Aborts when the drain time is up: stop, and end the answer with the shutdown error. Made on
   * first read (most requests never need a signal of their own: see onStop and until).
   */
  readonly signal: AbortSignal;
  /** True once the drain time is up for this request. */
  readonly stopped: boolean;
  /** Why it was stopped (the signal's reason), once stopped. */
  readonly reason: unknown;
  /** Calls `fn` when the drain time is up (at once when it already is). Held until done(). */
  onStop(fn: (reason: unknown) => void): void;
  /** `p`, or a rejection with the stop reason as soon as the drain time is up (`p` is left to settle). */
  until<T>(p: Promise<T>): Promise<T>;
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

/**
 * One request in flight. No AbortController unless `signal` is read: the chat hot path links
 * its own controller through onStop, so a request costs one controller, not two plus a listener.
 */
class FlightEntry implements Flight {
  /** Light (core/light-abort.ts): the drain's signal only reaches the router's own code (a stream's reader, a resume). */
  private ctl: LightController | undefined;
  private hooks: Array<(reason: unknown) => void> | undefined;
  private over = false;
  stopped = false;
  reason: unknown = undefined;

  /** This flight's place in the registry's list. */
  private readonly entry: LiveEntry<FlightEntry>;

  constructor(
    private readonly live: LiveList<FlightEntry>,
    private readonly settle: () => void,
  ) {
    this.entry = live.add(this);
  }

  get signal(): AbortSignal {
    if (!this.ctl) {
      this.ctl = new LightController();
      if (this.stopped) this.ctl.abort(this.reason);
    }
    return this.ctl.signal;
  }

  onStop(fn: (reason: unknown) => void): void {
    if (this.stopped) fn(this.reason);
    else if (!this.over) (this.hooks ??= []).push(fn);
  }

  until<T>(p: Promise<T>): Promise<T> {
    if (this.stopped) {
      p.catch(() => {});
      return Promise.reject(this.reason);
    }
    return new Promise<T>((resolve, reject) => {
      this.onStop((reason) => {
        p.catch(() => {});
        reject(reason);
      });
      p.then(resolve, reject);
    });
  }

  /** @internal the drain time is up */
  stop(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = reason;
    this.ctl?.abort(reason);
    const hooks = this.hooks;
    this.hooks = undefined;
    for (const fn of hooks ?? []) fn(reason);
  }

  done(): void {
    if (this.over) return;
    this.over = true;
    this.hooks = undefined;
    this.live.remove(this.entry);
    this.settle();
  }
}

export function createInflightRegistry(): InflightRegistry {
  // A list, not a Set: see live-list.ts.
  const live = new LiveList<FlightEntry>();
  let waiters: Array<() => void> = [];
  const settle = () => {
    if (live.size) return;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  return {
    begin() {
      return new FlightEntry(live, settle);
    },
    get size() {
      return live.size;
    },
    interrupt() {
      for (const flight of live.values()) flight.stop(new DOMException('the router is shutting down', 'AbortError'));
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

/**
 * The chunks of a stream, ending (with the signal's reason) as soon as the signal aborts. One
 * abort listener for the whole stream; per chunk one promise and one reaction (the pending
 * read is rejected by the listener), no race holding a reaction per chunk on a shared promise.
 */
export function abortable<T>(chunks: AsyncIterable<T>, signal: AbortSignal): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const it = chunks[Symbol.asyncIterator]();
      let over = false;
      /** Rejects the read in progress, if any. */
      let pending: ((err: unknown) => void) | undefined;
      const stop = () => {
        over = true;
        signal.removeEventListener('abort', onAbort);
        void Promise.resolve(it.return?.()).catch(() => {});
      };
      /** Aborted with no read in progress: the next read rejects. */
      let aborted = signal.aborted;
      const onAbort = () => {
        const reject = pending;
        pending = undefined;
        if (!reject) aborted = true;
        if (!over) stop();
        reject?.(signal.reason);
      };
      if (!aborted) signal.addEventListener('abort', onAbort, { once: true });
      return {
        next(): Promise<IteratorResult<T>> {
          if (aborted) {
            aborted = false;
            if (!over) stop();
            return Promise.reject(signal.reason);
          }
          if (over) return Promise.resolve({ done: true, value: undefined });
          return new Promise<IteratorResult<T>>((resolve, reject) => {
            pending = reject;
            it.next().then(
              (r) => {
                if (pending !== reject) return; // aborted meanwhile: already rejected
                pending = undefined;
                if (r.done) stop();
                resolve(r);
              },
              (err: unknown) => {
                if (pending !== reject) return;
                pending = undefined;
                stop();
                reject(err);
              },
            );
          });
        },
        async return(): Promise<IteratorResult<T>> {
          if (!over) stop();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
