/**
 * The chat hot path's HTTP client: one undici Pool per upstream origin, driven through its
 * dispatch API so that the answer's bytes go straight from the socket to the router (a whole
 * body into one buffer, an event stream through the SSE parser into a queue) with no WHATWG
 * Headers/Response/ReadableStream and no SDK request machinery on the way. The openai SDK
 * (over node-fetch.ts) still serves the paths where it earns its cost: health probes and
 * embeddings.
 *
 * The same byte-level defences as node-fetch.ts: a whole answer is read up to
 * `maxResponseBytes`, a line or event of a stream up to `maxEventBytes`, an abort rejects at
 * once (a call still waiting for a connection leaves the queue and is never written), and nothing
 * the upstream sends can throw out of an event handler.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher, Pool as PoolType } from 'undici';
// The Pool alone: undici's index also loads fetch, WebSocket, the cache and the mocks (~8 MiB of RSS the router never uses).
import PoolImpl from 'undici/lib/dispatcher/pool.js';
import { LiveList, type LiveEntry } from '../../src/core/live-list.js';
import { ResponseTooLargeError, UpstreamProtocolError } from './node-fetch.js';
import { SseParser, type SseEvent } from './sse-parser.js';

export interface UpstreamHttpOptions {
  /** Most connections open at once; further calls queue for one. */
  maxSockets: number;
  /** How long an idle keep-alive connection is kept. */
  idleSocketMs: number;
  maxResponseBytes: number;
  maxEventBytes: number;
}

export interface UpstreamCall {
  /** Origin-relative path, query included. */
  path: string;
  headers: Readonly<Record<string, string>>;
  body: string;
  /** The caller's abort (absent: none). */
  signal?: AbortSignal;
  /**
   * Milliseconds the call may take until its answer is complete (a whole answer), or until the
   * caller calls the event answer's `stopTimer()` (an event stream: once it has read what it
   * waits for, e.g. the first event); then it fails with CallTimeoutError (a stream's events
   * end with it). One timer here instead of a deadline signal of its own per call (a
   * controller, a timer and a listener on the caller's signal).
   */
  timeoutMs?: number;
}

/** The call's own `timeoutMs` ran out. */
export class CallTimeoutError extends Error {
  override name = 'CallTimeoutError';
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/** An answer read whole (any status; a stream call's error or JSON answer too). */
export interface WholeAnswer {
  kind: 'whole';
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** The events of a streamed answer, read as they arrive. */
export interface EventAnswer {
  kind: 'events';
  status: number;
  headers: IncomingHttpHeaders;
  events: EventQueue;
  /** Stops the call's `timeoutMs` timer: from here the caller's own timers apply. */
  stopTimer(): void;
}

/** A transport failure (no usable answer): the socket error as `cause`, for the classifier. */
export class UpstreamTransportError extends Error {
  constructor(cause: Error) {
    super('fetch failed', { cause });
    this.name = 'UpstreamTransportError';
  }
}

const abortError = () => new DOMException('This operation was aborted', 'AbortError');

/** Queue length at which the socket is paused until the reader catches up. */
const HIGH_WATER = 256;
const LOW_WATER = 32;

/**
 * The events of one stream: filled by the socket, emptied by one reader. `take()` is
 * synchronous so that a reader drains what one packet brought without a promise per event.
 */
export class EventQueue {
  private readonly items: SseEvent[] = [];
  private head = 0;
  private waiter: (() => void) | undefined;
  private controller: Dispatcher.DispatchController | undefined;
  private paused = false;
  /** The stream ended (cleanly when `error` is unset). */
  ended = false;
  error: Error | undefined;

  constructor(private readonly onClose: () => void) {}

  /** The next event, or undefined when none is waiting (then see `ended`, or `wait()`). */
  take(): SseEvent | undefined {
    if (this.head === this.items.length) return undefined;
    const ev = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as SseEvent;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    }
    if (this.paused && this.items.length - this.head <= LOW_WATER) {
      this.paused = false;
      this.controller?.resume();
    }
    return ev;
  }

  /** Resolves when an event arrives or the stream ends. */
  wait(): Promise<void> {
    if (this.head < this.items.length || this.ended) return Promise.resolve();
    return new Promise<void>((resolve) => (this.waiter = resolve));
  }

  /** Stops reading: the request is aborted (its connection closed) unless it already ended. */
  close(): void {
    if (!this.ended) this.finish(abortError());
    this.controller?.abort(abortError());
  }

  /** @internal */
  attach(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  /** @internal */
  push(ev: SseEvent): void {
    if (this.ended) return;
    this.items.push(ev);
    if (!this.paused && this.items.length - this.head >= HIGH_WATER) {
      this.paused = true;
      this.controller?.pause();
    }
    this.wake();
  }

  /** @internal */
  finish(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (err) {
      this.error = err;
      // An error ends the stream now: what was queued before it is dropped, as a cut socket would.
      this.items.length = 0;
      this.head = 0;
    }
    this.onClose();
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

export interface UpstreamHttp {
  /** POSTs and reads the answer whole (up to maxResponseBytes). */
  postWhole(call: UpstreamCall): Promise<WholeAnswer>;
  /** POSTs and, when the answer is a 2xx that is not JSON, reads it as an event stream; otherwise whole. */
  postStream(call: UpstreamCall): Promise<WholeAnswer | EventAnswer>;
  stats(): { connected: number; free: number; pending: number; queued: number; running: number };
  /** Fails every call in flight and closes every connection; later calls fail at once. */
  close(): void;
}

const isJson = (headers: IncomingHttpHeaders) => String(headers['content-type'] ?? '').toLowerCase().includes('application/json');

/** A pool to the origin of `baseURL`. */
export function createUpstreamHttp(baseURL: string, opts: UpstreamHttpOptions): UpstreamHttp {
  const origin = new URL(baseURL).origin;
  const pool: PoolType = new PoolImpl(origin, {
    connections: opts.maxSockets,
    keepAliveTimeout: opts.idleSocketMs,
    keepAliveMaxTimeout: opts.idleSocketMs,
    // The router times calls itself (the provider deadline, first-token and idle timers).
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  let closed = false;
  /** Calls not yet settled or ended, with the function that fails them. */
  const live = new LiveList<(err: Error) => void>();
  /**
   * Calls go to the pool only when a connection is theirs (at most maxSockets at once); the
   * others wait here. A call aborted while it waits just leaves this queue: nothing was handed
   * to undici, which would otherwise keep it queued and, once a connection freed, abort it on
   * that connection and so destroy the socket (one reconnect per abandoned call).
   */
  let running = 0;
  const waiting = new LiveList<() => void>();
  const next = () => {
    running--;
    if (closed) return;
    waiting.shift()?.();
  };

  function post(call: UpstreamCall, stream: boolean): Promise<WholeAnswer | EventAnswer> {
    if (closed) return Promise.reject(new UpstreamTransportError(Object.assign(new Error('provider closed'), { code: 'ECONNABORTED' })));
    const { signal, timeoutMs } = call;
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise<WholeAnswer | EventAnswer>((resolve, reject) => {
      let controller: Dispatcher.DispatchController | undefined;
      let settled = false;
      let status = 0;
      let headers: IncomingHttpHeaders = {};
      let parts: Buffer[] | undefined;
      let size = 0;
      let queue: EventQueue | undefined;
      let parser: SseParser | undefined;

      let started = false;
      let finished = false;
      /** The call is over at undici's end: its connection slot goes to the next waiting call. */
      const release = () => {
        if (finished || !started) return;
        finished = true;
        next();
      };
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stopTimer = () => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
      };
      const cleanup = () => {
        stopTimer();
        signal?.removeEventListener('abort', onAbort);
        live.remove(liveEntry);
        if (waitEntry) waiting.remove(waitEntry);
      };
      /** Ends the call with `err`: the promise if still open, else the event stream. */
      const kill = (err: Error) => {
        if (!settled) {
          settled = true;
          cleanup();
          reject(err);
        } else queue?.finish(err);
        controller?.abort(err);
      };
      const onAbort = () => kill(abortError());
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => kill(new CallTimeoutError(timeoutMs)), timeoutMs);
        timer.unref?.();
      }
      const liveEntry = live.add(kill);
      let waitEntry: LiveEntry<() => void> | undefined;

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          // Aborted while queued for a connection: never written.
          if (settled && !queue) c.abort(abortError());
        },
        onResponseStart(c, statusCode, h) {
          if (settled && !queue) return void c.abort(abortError());
          if (statusCode < 200) return; // informational (1xx): the real answer follows
          if (statusCode > 599) return kill(new UpstreamProtocolError(`upstream answered HTTP status ${statusCode}`));
          status = statusCode;
          headers = h;
          if (stream && statusCode < 300 && !isJson(h)) {
            queue = new EventQueue(cleanup);
            queue.attach(c);
            const q = queue;
            parser = new SseParser(opts.maxEventBytes, (ev) => q.push(ev));
            settled = true;
            // The stream has started; the timer runs on until the caller has what it waits for.
            resolve({ kind: 'events', status, headers, events: q, stopTimer });
            return;
          }
          const declared = Number(h['content-length']);
          if (Number.isFinite(declared) && declared > opts.maxResponseBytes) return kill(new ResponseTooLargeError(opts.maxResponseBytes, 'body'));
          parts = [];
        },
        onResponseData(_c, chunk) {
          if (parser) {
            if (queue!.ended) return;
            try {
              parser.push(chunk);
            } catch (err) {
              kill(err as Error);
            }
            return;
          }
          if (!parts || settled) return;
          size += chunk.length;
          if (size > opts.maxResponseBytes) {
            parts = undefined;
            return kill(new ResponseTooLargeError(opts.maxResponseBytes, 'body'));
          }
          parts.push(chunk);
        },
        onResponseEnd() {
          release();
          if (queue) {
            parser!.end();
            queue.finish();
            return;
          }
          if (settled || !parts) return;
          settled = true;
          cleanup();
          resolve({ kind: 'whole', status, headers, body: parts.length === 1 ? parts[0]! : Buffer.concat(parts, size) });
        },
        onResponseError(_c, err) {
          release();
          // Our own abort (or cap) comes back here too: the first error is the one reported.
          const e = err instanceof ResponseTooLargeError || err instanceof UpstreamProtocolError || (err as Error).name === 'AbortError' ? err : new UpstreamTransportError(err);
          if (!settled) {
            settled = true;
            cleanup();
            reject(signal?.aborted ? abortError() : e);
          } else queue?.finish(signal?.aborted ? abortError() : e);
        },
      };
      function start(): void {
        if (settled) return;
        started = true;
        running++;
        try {
          pool.dispatch({ path: call.path, method: 'POST', headers: call.headers, body: call.body, blocking: true }, handler);
        } catch (err) {
          // A header value undici refuses (configured by the operator): the router's failure to build the call.
          settled = true;
          cleanup();
          release();
          reject(err);
        }
      }
      if (running < opts.maxSockets) start();
      else waitEntry = waiting.add(start);
    });
  }

  return {
    postWhole: (call) => post(call, false) as Promise<WholeAnswer>,
    postStream: (call) => post(call, true),
    stats: () => {
      const s = pool.stats;
      return { connected: s.connected, free: s.free, pending: s.pending + waiting.size, queued: s.queued + waiting.size, running: s.running };
    },
    close() {
      if (closed) return;
      closed = true;
      const err = new UpstreamTransportError(Object.assign(new Error('provider closed'), { code: 'ECONNABORTED' }));
      for (const kill of live.values()) kill(err);
      waiting.clear();
      void pool.destroy(err).catch(() => {});
    },
  };
}
