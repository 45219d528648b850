/**
 * Runs the chat handler in-process for an adapter endpoint (/v1/responses, /v1/completions):
 * the same parsing, limits, filters, cache, sessions, routing and fallback as a request from an
 * app, without a socket. Like `runInternally` (internal-request.ts), but a streamed answer is
 * not buffered: each SSE event the handler writes (`data: {...}\n\n`, `data: [DONE]`) is parsed
 * and handed to `sink.event` at once, and a JSON answer (an error before the stream started, or
 * a whole answer) is captured with its status and headers.
 *
 * Backpressure: when `sink.event` returns a promise (the real socket is backed up), the fake
 * response's `write` returns false and emits 'drain' when the promise settles, so the handler's
 * `writeEvent` waits exactly as it would for a socket. Aborting `signal` is the app leaving: the
 * handler sees `destroyed` and a 'close' (and aborts the upstream call).
 *
 * Below it, what the adapter endpoints share around a run: the headers that carry over, the
 * chat path's error as theirs, the app's abort, SSE writes with backpressure.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { Request, Response } from 'express';
import type { Identity } from '../identity/types.js';
import { sessionWireError } from '../sessions/session-http-errors.js';
import { FieldError } from '../wire/responses/field-error.js';
import type { Obj } from '../wire/wire-common.js';
import { drained } from './sse.js';
import { toWireError, wireError, type WireError } from './http-errors.js';

/** The chat handler (createChatHandler) adapter requests are run through. */
export type ChatHandler = (req: Request, res: Response) => Promise<void>;

/** One SSE payload the handler wrote: its JSON parsed, or the `[DONE]` marker. */
export type ChatEvent = unknown;

export const DONE = '[DONE]';

export interface ChatSink {
  /** The handler started a stream: its status and the headers it set (x-router-*…). Called once, before the first event. */
  start?(status: number, headers: Record<string, string>): void;
  /** One event, parsed JSON or `'[DONE]'`. A returned promise holds the handler until it settles (backpressure). */
  event(data: ChatEvent): void | Promise<void>;
}

export interface InternalChatOptions {
  identity: Identity;
  requestId: string;
  /** Aborts when the app leaves: the handler sees its client gone. */
  signal: AbortSignal;
  /** performance.now() when the app's request arrived (latency and overhead metrics). */
  receivedAt?: number;
  /** Request headers the handler may read (cache-control); others are not forwarded. */
  headers?: IncomingHttpHeaders;
  /** Where a streamed answer goes; absent: a stream is refused (the body says stream: false). */
  sink?: ChatSink;
}

export interface InternalChatResult {
  status: number;
  headers: Record<string, string>;
  /** A JSON answer's body (parsed); undefined when the answer was a stream. */
  body?: unknown;
  /** The answer was a stream (its events went to the sink). */
  streamed: boolean;
  /** The handler ended its answer (false: it stopped without one, e.g. the app left first). */
  finished: boolean;
}

/** An error body shaped as OpenAI's, for an answer the handler never gave. */
export const abortedBody = (message: string) => ({ error: { message, type: 'request_aborted', param: null, code: 'client_closed_request' } });

/** Splits SSE text into complete events' data payloads; keeps an incomplete tail. */
export class SseDataSplitter {
  private buffer = '';

  /** The data payloads of the events completed by `chunk` (a multi-line `data:` field is joined with \n). */
  push(chunk: string): string[] {
    this.buffer += chunk;
    const out: string[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5));
      if (data.length) out.push(data.join('\n'));
    }
    return out;
  }
}

function parseData(data: string): ChatEvent {
  if (data === DONE) return DONE;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    // Never the case for the router's own encoder; reported as a stream error rather than dropped.
    return { error: { message: 'The router produced an unreadable stream event.', type: 'server_error', param: null, code: 'internal_error' } };
  }
}

export async function runChatInternally(handler: ChatHandler, body: unknown, opts: InternalChatOptions): Promise<InternalChatResult> {
  const headers: Record<string, string> = {};
  const emitter = new EventEmitter();
  let status = 200;
  let text = '';
  let started = false;
  let streamed = false;
  let finished = false;
  let destroyed = false;
  const splitter = new SseDataSplitter();
  const deliver = (chunk: string): boolean => {
    const pending: Promise<void>[] = [];
    for (const data of splitter.push(chunk)) {
      const p = opts.sink!.event(parseData(data));
      if (p) pending.push(p);
    }
    if (!pending.length) return true;
    void Promise.allSettled(pending).then(() => emitter.emit('drain'));
    return false;
  };
  // Getters must stay getters (Object.assign would copy their values once): the handler reads them as the answer goes.
  const state = Object.defineProperties(
    {},
    {
      headersSent: { get: () => started },
      writableFinished: { get: () => finished },
      writableEnded: { get: () => finished },
      destroyed: { get: () => destroyed },
    },
  );
  const methods = {
    locals: { identity: opts.identity, apiKeyId: opts.identity.keyId, requestId: opts.requestId, receivedAt: opts.receivedAt ?? performance.now() } as Record<string, unknown>,
    writableCorked: 0,
    cork() {},
    uncork() {},
    setHeader(k: string, v: string | number | readonly string[]) {
      headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
      return res;
    },
    getHeader: (k: string) => headers[k.toLowerCase()],
    status(code: number) {
      status = code;
      return res;
    },
    json(value: unknown) {
      started = true;
      text = JSON.stringify(value);
      finished = true;
      emitter.emit('finish');
      return res;
    },
    writeHead(code: number, h?: Record<string, string | number>) {
      status = code;
      for (const [k, v] of Object.entries(h ?? {})) headers[k.toLowerCase()] = String(v);
      started = true;
      streamed = opts.sink !== undefined && (headers['content-type'] ?? '').startsWith('text/event-stream');
      if (streamed) opts.sink!.start?.(status, { ...headers });
      return res;
    },
    write(chunk: string | Buffer) {
      if (destroyed || finished) return false;
      const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      if (streamed) return deliver(s);
      text += s;
      return true;
    },
    end(chunk?: string | Buffer) {
      if (finished) return res;
      if (chunk) {
        const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
        if (streamed) deliver(s);
        else text += s;
      }
      finished = true;
      emitter.emit('finish');
      return res;
    },
  };
  const res: EventEmitter & typeof methods = Object.assign(emitter, methods);
  Object.defineProperties(res, Object.getOwnPropertyDescriptors(state));
  const req = { body, headers: { ...(opts.headers ?? {}) }, query: {}, get: (name: string) => opts.headers?.[name.toLowerCase()], method: 'POST', path: '/v1/chat/completions' };
  const onAbort = () => {
    if (finished || destroyed) return;
    destroyed = true;
    emitter.emit('close');
  };
  if (opts.signal.aborted) onAbort();
  else opts.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await handler(req as unknown as Request, res as unknown as Response);
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
  if (streamed) return { status, headers, streamed, finished };
  if (!finished) return { status: 499, headers, body: abortedBody('The request was stopped before it was answered.'), streamed, finished };
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: kept as text */
  }
  return { status, headers, body: parsed, streamed, finished };
}

/** Headers of the chat handler's answer that the adapter's answer carries too: the router's own, rate limits, retry hints. */
export function forwardedHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith('x-router-') || k.startsWith('x-ratelimit-') || k === 'retry-after' || k === 'retry-after-ms' || k === 'connection') out[k] = v;
  }
  return out;
}

// The adapter endpoints' side of an internal run: what they share around it.

/** Request headers the chat path reads that an app may send here too (the cache's bypass). */
const FORWARDED_REQUEST_HEADERS = ['cache-control'] as const;

export function send(res: Response, e: WireError): void {
  for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
  res.status(e.status).json(e.body);
}

/** What a failure of this module's own steps (parsing, the store) answers. */
export function errorOf(err: unknown): WireError {
  if (err instanceof FieldError) return wireError(400, err.message, 'invalid_request_error', err.param, err.code);
  return sessionWireError(err) ?? toWireError(err);
}

/** The chat path's error answer as this endpoint's: same status and body, `param` in the endpoint's names. */
export function chatError(status: number, body: unknown, param: (p: string | null) => string | null): WireError {
  const e = (body as { error?: Obj } | null)?.error;
  if (!e || typeof e !== 'object') return wireError(status >= 400 ? status : 502, 'The router failed to process the request.', 'server_error', null, 'internal_error');
  const p = typeof e.param === 'string' ? e.param : null;
  return { status, body: { error: { ...(e as WireError['body']['error']), param: param(p) } } };
}

export function forwardHeaders(req: Request): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const h of FORWARDED_REQUEST_HEADERS) if (req.headers[h] !== undefined) out[h] = req.headers[h];
  return out;
}

/** An AbortSignal that aborts when the app goes away before its answer is complete. */
export function clientSignal(res: Response): AbortSignal {
  const client = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) client.abort(new DOMException('client closed the request', 'AbortError'));
  });
  return client.signal;
}

/** Writes SSE frames to the app; a promise when the socket is backed up (resolved on drain or close). */
export function writeFrames(res: Response, frames: readonly string[]): Promise<void> | undefined {
  if (res.destroyed || res.writableEnded || frames.length === 0) return undefined;
  return res.write(frames.join('')) ? undefined : drained(res);
}
