/**
 * A `fetch` for the openai SDK built on node:http(s), one connection pool per provider.
 * Node's global fetch (undici behind WHATWG streams) costs about twice the CPU per call of
 * http.request; on the router's hot path that is most of its overhead. Only what the SDK uses
 * is supported: string or byte bodies, headers, abort signals, streamed response bodies.
 *
 * Hostile or broken upstreams must not hurt the router, so this is also where it defends
 * itself at the byte level:
 * - an abort (the caller's, or a provider/route deadline) rejects at once, also while the
 *   request is still queued for a socket (Node's agent would only report it once a socket
 *   frees up, which with every socket held by long streams may be never), and the request
 *   leaves the agent's queue;
 * - a non-streamed answer is read up to `maxResponseBytes`, then the socket is destroyed;
 * - one line of an event stream is read up to `maxEventBytes` before the SDK's parser sees it.
 */
import http from 'node:http';
import https from 'node:https';
import { UPSTREAM_RESPONSE_TOO_LARGE } from '../../src/core/provider-error.js';

/** The upstream sent more than the router is willing to read. */
export class ResponseTooLargeError extends Error {
  readonly code = UPSTREAM_RESPONSE_TOO_LARGE;
  constructor(
    /** The limit that was crossed, in bytes. */
    readonly limitBytes: number,
    /** A whole non-streamed answer, or one line of an event stream. */
    readonly part: 'body' | 'line',
  ) {
    super(
      part === 'body'
        ? `upstream answer larger than maxResponseBytes (${limitBytes} bytes)`
        : `upstream event stream line larger than maxEventBytes (${limitBytes} bytes)`,
    );
    this.name = 'ResponseTooLargeError';
  }
}

/** An answer that is not HTTP as fetch knows it (a status outside 200–599, headers fetch refuses). */
export class UpstreamProtocolError extends Error {
  readonly code = 'ERR_UPSTREAM_PROTOCOL';
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamProtocolError';
  }
}

/** A fetch the router used wrongly (a bug, never the upstream's fault). */
export class UnsupportedFetchError extends Error {
  readonly code = 'ERR_ROUTER_UNSUPPORTED_FETCH';
  constructor(what: string) {
    super(`node fetch: unsupported ${what}`);
    this.name = 'UnsupportedFetchError';
  }
}

/**
 * Per-call hint passed through the SDK's `fetchOptions`: the caller reads the answer whole
 * (not as a stream), so the whole body is capped at `maxResponseBytes` even if the upstream
 * labels it an event stream.
 */
export const READ_WHOLE: unique symbol = Symbol('llm-router.readWhole');

/** `fetchOptions` for a call whose answer is read whole. */
export const READ_WHOLE_INIT: { readonly [READ_WHOLE]: true } = Object.freeze({ [READ_WHOLE]: true as const });

export interface UpstreamPoolOptions {
  /** Most sockets open at once (per origin); further calls queue for one. */
  maxSockets: number;
  /** Idle keep-alive sockets kept for reuse. */
  maxFreeSockets: number;
  /** How long an idle keep-alive socket is kept. */
  idleSocketMs: number;
  /** Largest non-streamed answer read. */
  maxResponseBytes: number;
  /** Largest single line of an event stream. */
  maxEventBytes: number;
}

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface PoolStats {
  /** Sockets serving a request. */
  active: number;
  /** Idle keep-alive sockets. */
  free: number;
  /** Requests waiting in the agent's queue for a socket. */
  queued: number;
  /** Requests started and not yet finished (queued ones included). */
  inFlight: number;
}

export interface UpstreamPool {
  readonly fetch: FetchLike;
  readonly options: Readonly<UpstreamPoolOptions>;
  stats(): PoolStats;
  /** Fails every request in flight, closes every socket; later calls fail at once. */
  close(): void;
}

const DEFAULT_POOL: UpstreamPoolOptions = {
  maxSockets: 256,
  maxFreeSockets: 64,
  idleSocketMs: 30_000,
  maxResponseBytes: 16 * 1024 ** 2,
  maxEventBytes: 1024 ** 2,
};

function toHeaderRecord(init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!init) return out;
  new Headers(init).forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}

/** Match fetch: transport failures are TypeErrors with the socket error as cause. */
function transportError(message: 'fetch failed' | 'terminated', err: Error): Error {
  if (err.name === 'AbortError' || err instanceof ResponseTooLargeError) return err;
  return Object.assign(new TypeError(message), { cause: err });
}

type AgentRequests = Record<string, http.ClientRequest[] | undefined>;

/** Takes a request that never got a socket out of the agent's queue (Node leaves it there when destroyed). */
function unqueue(agent: http.Agent, req: http.ClientRequest): void {
  if (req.socket) return;
  const queues = agent.requests as unknown as AgentRequests;
  for (const name of Object.keys(queues)) {
    const queue = queues[name];
    const i = queue ? queue.indexOf(req) : -1;
    if (i < 0) continue;
    queue!.splice(i, 1);
    if (queue!.length === 0) delete queues[name];
    return;
  }
}

function count(dict: NodeJS.ReadOnlyDict<unknown[]>): number {
  let n = 0;
  for (const name of Object.keys(dict)) n += dict[name]?.length ?? 0;
  return n;
}

/** Index of the last CR or LF in `chunk`, or -1. */
function lastNewline(chunk: Buffer): number {
  return Math.max(chunk.lastIndexOf(10), chunk.lastIndexOf(13));
}

/**
 * Bytes since the last newline after `chunk`, or -1 when a line crossed `max`: the counter is
 * checked in the byte stream, before any parser buffers the line.
 */
function lineBytesAfter(since: number, chunk: Buffer, max: number): number {
  // Fast path: no line can reach the limit within this chunk.
  if (since + chunk.length <= max) {
    const nl = lastNewline(chunk);
    return nl < 0 ? since + chunk.length : chunk.length - nl - 1;
  }
  let run = since;
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i];
    if (b === 10 || b === 13) run = 0;
    else if (++run > max) return -1;
  }
  return run;
}

/**
 * A connection pool to one provider's upstream (one keep-alive agent per protocol) and the
 * fetch that uses it. Built once per provider; `close()` when the provider closes.
 */
export function createUpstreamPool(opts: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  const options: UpstreamPoolOptions = { ...DEFAULT_POOL, ...opts };
  const agentOptions: http.AgentOptions = {
    keepAlive: true,
    maxSockets: options.maxSockets,
    maxFreeSockets: options.maxFreeSockets,
    // On a free socket: closed once idle this long. Active sockets are not affected (no
    // 'timeout' listener on the request), streams are timed by the router.
    timeout: options.idleSocketMs,
    scheduling: 'lifo',
  };
  const agents: { 'http:'?: http.Agent; 'https:'?: https.Agent } = {};
  const agentFor = (protocol: 'http:' | 'https:'): http.Agent =>
    protocol === 'https:' ? (agents['https:'] ??= new https.Agent(agentOptions)) : (agents['http:'] ??= new http.Agent(agentOptions));
  /** Every request not yet finished, each with the function that fails it. */
  const inFlight = new Map<http.ClientRequest, (err: Error) => void>();
  let closed = false;

  function poolFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    if (closed) return Promise.reject(transportError('fetch failed', Object.assign(new Error('provider closed'), { code: 'ECONNABORTED' })));
    if (input instanceof Request) return Promise.reject(new UnsupportedFetchError('Request input'));
    const url = new URL(String(input));
    const transport = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
    if (!transport) return Promise.reject(new UnsupportedFetchError(`protocol ${url.protocol}`));
    const body = init.body;
    if (body != null && typeof body !== 'string' && !(body instanceof Uint8Array)) return Promise.reject(new UnsupportedFetchError('request body type'));
    const readWhole = (init as Record<symbol, unknown>)[READ_WHOLE] === true;
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const agent = agentFor(url.protocol as 'http:' | 'https:');

    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      let res: http.IncomingMessage | undefined;
      const req = transport.request(url, { method: init.method ?? 'GET', headers: toHeaderRecord(init.headers), agent });

      const done = () => {
        inFlight.delete(req);
        signal?.removeEventListener('abort', onAbort);
      };
      /** Until the answer is handed over, every failure rejects the promise: first, then cleanup. */
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
        done();
      };
      /** Ends everything: the promise (if still open), the request, its socket, its place in the queue. */
      const kill = (err: Error) => {
        fail(err);
        done();
        res?.destroy(err);
        req.destroy(err);
        unqueue(agent, req);
      };
      const onAbort = () => kill(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      inFlight.set(req, kill);

      // Stays attached for good: a destroyed request may still report its error later.
      req.on('error', (err) => fail(transportError('fetch failed', err)));
      req.on('close', () => {
        // A request that ends without an answer (and no error) must not leave the promise open.
        if (!res) fail(transportError('fetch failed', new Error('request closed without an answer')));
      });
      req.on('response', (incoming) => {
        res = incoming;
        // Destroying it with an error (a cap, an abort) must never become an uncaught 'error' event.
        incoming.on('error', () => {});
        if (settled) return void incoming.destroy();
        // Whatever the upstream sent, nothing here may throw out of an event handler (that
        // would take the whole process down): a status or header fetch refuses fails the call.
        try {
          answer(incoming);
        } catch (err) {
          kill(err instanceof UpstreamProtocolError ? err : new UpstreamProtocolError(`upstream answer unusable: ${(err as Error).message}`));
        }
      });

      function answer(incoming: http.IncomingMessage): void {
        const status = incoming.statusCode ?? 0;
        if (status < 200 || status > 599) throw new UpstreamProtocolError(`upstream answered HTTP status ${status}`);
        const headers = new Headers();
        for (const [key, value] of Object.entries(incoming.headers)) {
          if (value === undefined) continue;
          if (Array.isArray(value)) for (const v of value) headers.append(key, v);
          else headers.set(key, value);
        }
        const responseInit: ResponseInit = { status, statusText: incoming.statusMessage, headers };
        if (status === 204 || status === 304 || init.method === 'HEAD') {
          incoming.resume();
          settled = true;
          done();
          return resolve(new Response(null, responseInit));
        }
        const eventStream = !readWhole && String(incoming.headers['content-type'] ?? '').includes('text/event-stream');
        if (!eventStream) return readBody(incoming, responseInit);
        // The answer is the caller's now: failures surface from the body stream.
        const response = new Response(eventBody(incoming, () => done()), responseInit);
        settled = true;
        resolve(response);
      }

      /** A non-streamed answer, read whole with Node streams and handed over as one buffer (much cheaper than a WHATWG stream). */
      function readBody(incoming: http.IncomingMessage, responseInit: ResponseInit): void {
        const max = options.maxResponseBytes;
        const declared = Number(incoming.headers['content-length']);
        if (Number.isFinite(declared) && declared > max) return kill(new ResponseTooLargeError(max, 'body'));
        let parts: Buffer[] = [];
        let size = 0;
        incoming.on('data', (chunk: Buffer) => {
          if (settled) return;
          size += chunk.length;
          if (size > max) {
            parts = [];
            return kill(new ResponseTooLargeError(max, 'body'));
          }
          parts.push(chunk);
        });
        incoming.on('end', () => {
          if (settled) return;
          const buf = Buffer.concat(parts, size);
          parts = [];
          settled = true;
          done();
          resolve(new Response(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), responseInit));
        });
        incoming.on('error', (err) => fail(transportError('terminated', err)));
        incoming.on('close', () => {
          if (!incoming.complete) fail(transportError('terminated', new Error('upstream closed the connection mid-answer')));
        });
      }

      /** An event stream, checked line by line for size as it arrives. */
      function eventBody(incoming: http.IncomingMessage, onEnd: () => void): ReadableStream<Uint8Array> {
        const max = options.maxEventBytes;
        let since = 0;
        let finished = false;
        // After the answer is handed over an abort ends the body stream.
        return new ReadableStream<Uint8Array>({
          start(controller) {
            const end = (err?: Error) => {
              if (finished) return;
              finished = true;
              onEnd();
              if (err) controller.error(err);
              else controller.close();
            };
            incoming.on('data', (chunk: Buffer) => {
              if (finished) return;
              since = lineBytesAfter(since, chunk, max);
              if (since < 0) {
                const err = new ResponseTooLargeError(max, 'line');
                end(err);
                incoming.destroy(err);
                return;
              }
              controller.enqueue(chunk);
              if ((controller.desiredSize ?? 1) <= 0) incoming.pause();
            });
            incoming.on('end', () => end());
            incoming.on('error', (err) => end(transportError('terminated', err)));
            incoming.on('close', () => {
              if (!incoming.complete) end(signal?.aborted ? abortError(signal) : transportError('terminated', new Error('upstream closed the connection mid-stream')));
            });
          },
          pull() {
            incoming.resume();
          },
          cancel() {
            finished = true;
            onEnd();
            incoming.destroy();
            req.destroy();
          },
        });
      }

      req.end(body ?? undefined);
    });
  }

  return {
    fetch: poolFetch,
    options,
    stats() {
      let active = 0;
      let free = 0;
      let queued = 0;
      for (const agent of [agents['http:'], agents['https:']]) {
        if (!agent) continue;
        active += count(agent.sockets);
        free += count(agent.freeSockets);
        queued += count(agent.requests);
      }
      return { active, free, queued, inFlight: inFlight.size };
    },
    close() {
      if (closed) return;
      closed = true;
      const err = transportError('fetch failed', Object.assign(new Error('provider closed'), { code: 'ECONNABORTED' }));
      for (const kill of [...inFlight.values()]) kill(err);
      agents['http:']?.destroy();
      agents['https:']?.destroy();
    },
  };
}
