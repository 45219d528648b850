import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { ChatRequest } from '../core/chat-request.js';
import { isProviderError } from '../core/provider-error.js';
import type { Metrics } from '../observability/metrics.js';
import { formatAttemptsHeader, formatFallbackHeader, type Attempt } from '../routing/attempts.js';
import type { Dispatcher, RoutedResponse, RoutedStream } from '../routing/dispatcher.js';
import { RouteError } from '../routing/route-error.js';
import { STREAM_TOO_LONG } from '../routing/stream-guards.js';
import { WireChunkEncoder, toWireResponse, type WireEnvelope } from '../wire/chunk-encoder.js';
import { parseChatRequest } from '../wire/parse-chat-request.js';
import { toWireError, type WireError } from './http-errors.js';
import { abortable, shuttingDownError, shuttingDownEvent, untilAborted, type InflightRegistry } from './inflight.js';
import { SSE_HEADERS, writeEvent } from './sse.js';

export interface ChatHandlerDeps {
  dispatcher: () => Dispatcher;
  metrics: Metrics;
  logger: Logger;
  /** Log message text too (operator's audit switch). */
  audit: () => boolean;
  /** Deepest JSON nesting accepted in a body (server.limits.maxDepth). */
  maxDepth?: () => number;
  /** Requests in flight, for graceful shutdown (server.ts drains them). */
  inflight?: InflightRegistry;
}

// A random prefix per process and a counter: unique, and no crypto call per request.
const idPrefix = `chatcmpl-${randomBytes(6).toString('base64url')}`;
let idCounter = 0;
const newCompletionId = () => `${idPrefix}${(idCounter++).toString(36).padStart(6, '0')}`;

function routerHeaders(res: Response, served: RoutedResponse | RoutedStream, overheadMs: number): void {
  res.setHeader('x-router-provider', served.target.provider);
  res.setHeader('x-router-model', served.target.model);
  res.setHeader('x-router-attempts', formatAttemptsHeader(served.attempts));
  const fallback = formatFallbackHeader(served.attempts);
  if (fallback) res.setHeader('x-router-fallback', fallback);
  res.setHeader('x-router-overhead-ms', overheadMs.toFixed(3));
  for (const [k, v] of Object.entries(served.notes?.headers ?? {})) res.setHeader(k, v);
}

function sendError(res: Response, e: WireError, attempts?: Attempt[]): void {
  if (attempts?.length) res.setHeader('x-router-attempts', formatAttemptsHeader(attempts));
  for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
  res.status(e.status).json(e.body);
}

/** POST /v1/chat/completions */
export function createChatHandler(deps: ChatHandlerDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    const receivedAt = (res.locals.receivedAt as number | undefined) ?? performance.now();
    const requestId = res.locals.requestId as string;
    // Aborts upstream work when the app goes away before the answer is complete.
    const client = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) client.abort(new DOMException('client closed the request', 'AbortError'));
    });
    // Registered for the shutdown drain; `stop` aborts when the drain time is up.
    const flight = deps.inflight?.begin(res);
    const stop = flight?.signal;
    const signal = stop ? AbortSignal.any([client.signal, stop]) : client.signal;
    const bounded = <T>(p: Promise<T>): Promise<T> => (stop ? untilAborted(p, stop) : p);

    let chat: ChatRequest | undefined;
    const log = deps.logger.child({ requestId });
    try {
      chat = parseChatRequest(req.body, { requestId, receivedAt, apiKeyId: res.locals.apiKeyId as string | undefined }, { maxDepth: deps.maxDepth?.() });
      if (deps.audit()) log.info({ audit: { messages: chat.messages } }, 'audit request');
      const dispatcher = deps.dispatcher();
      if (chat.stream) await serveStream(chat, await bounded(dispatcher.stream(chat, signal)), res, deps, log, stop);
      else serveJson(chat, await bounded(dispatcher.chat(chat, signal)), res, deps, log);
    } catch (err) {
      if (stop?.aborted) {
        // The shutdown drain ran out before this request was answered.
        client.abort(stop.reason);
        if (res.headersSent || res.destroyed) return;
        deps.metrics.requests.inc({ route: chat && deps.dispatcher().hasRoute(chat.model) ? chat.model : 'unknown', provider: 'none', outcome: 'shutdown', stream: String(chat?.stream ?? false) });
        sendError(res, shuttingDownError());
        return;
      }
      const route = chat?.model ?? 'unknown';
      const attempts = err instanceof RouteError ? err.attempts : undefined;
      const e = toWireError(err);
      const kind = err instanceof RouteError ? (err.last?.kind ?? err.reason) : isProviderError(err) ? err.kind : e.body.error.code;
      deps.metrics.requests.inc({ route: deps.dispatcher().hasRoute(route) ? route : 'unknown', provider: 'none', outcome: String(kind), stream: String(chat?.stream ?? false) });
      if (e.status >= 500 && e.status !== 499) log.warn({ status: e.status, kind, attempts, detail: err instanceof RouteError ? (err.last?.detail ?? err.last?.message) : isProviderError(err) ? (err.detail ?? err.message) : (err as Error)?.message }, 'request failed');
      else log.info({ status: e.status, kind }, 'request rejected');
      if (e.status === 499 || res.headersSent) return;
      sendError(res, e, attempts);
    } finally {
      flight?.done();
    }
  };
}

function envelope(model: string, created?: number, fingerprint?: string | null): WireEnvelope {
  return { id: newCompletionId(), created: created ?? Math.floor(Date.now() / 1000), model, ...(fingerprint !== undefined ? { systemFingerprint: fingerprint } : {}) };
}

function serveJson(chat: ChatRequest, served: RoutedResponse, res: Response, deps: ChatHandlerDeps, log: Logger): void {
  const r = served.response;
  const body = toWireResponse(r, envelope(r.model, r.created, r.systemFingerprint));
  const totalMs = performance.now() - chat.meta.receivedAt;
  const overheadMs = Math.max(0, totalMs - served.upstreamMs);
  routerHeaders(res, served, overheadMs);
  // Written directly: express's res.json does content negotiation and freshness work that a
  // POST answer never needs, on the hottest path of the router.
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
  const labels = { route: chat.model, provider: served.target.provider };
  deps.metrics.requests.inc({ ...labels, outcome: 'ok', stream: 'false' });
  deps.metrics.latency.observe({ ...labels, stream: 'false' }, totalMs / 1000);
  deps.metrics.overhead.observe({ route: chat.model, stream: 'false' }, overheadMs / 1000);
  countTokens(deps, chat.model, served.target.provider, r.usage);
  log.info({ route: chat.model, provider: served.target.provider, model: served.target.model, ms: Math.round(totalMs), attempts: served.attempts.length }, 'served');
}

function countTokens(deps: ChatHandlerDeps, route: string, provider: string, usage?: { promptTokens: number; completionTokens: number }): void {
  if (!usage) return;
  deps.metrics.tokens.inc({ route, provider, type: 'prompt', traffic: 'live' }, usage.promptTokens);
  deps.metrics.tokens.inc({ route, provider, type: 'completion', traffic: 'live' }, usage.completionTokens);
}

async function serveStream(chat: ChatRequest, served: RoutedStream, res: Response, deps: ChatHandlerDeps, log: Logger, stop?: AbortSignal): Promise<void> {
  const s = served.stream;
  const encoder = new WireChunkEncoder({ ...envelope(s.model, undefined, s.systemFingerprint), promptFilterResults: s.promptFilterResults }, chat.includeUsage);
  const headersAt = performance.now();
  const overheadMs = Math.max(0, headersAt - chat.meta.receivedAt - served.upstreamMs);
  routerHeaders(res, served, overheadMs);
  res.writeHead(200, SSE_HEADERS);
  const labels = { route: chat.model, provider: served.target.provider };
  deps.metrics.timeToFirstToken.observe(labels, (headersAt - chat.meta.receivedAt) / 1000);
  deps.metrics.overhead.observe({ route: chat.model, stream: 'true' }, overheadMs / 1000);
  let outcome = 'ok';
  try {
    for await (const chunk of stop ? abortable(s.chunks, stop) : s.chunks) {
      if (chunk.type === 'usage') countTokens(deps, chat.model, served.target.provider, chunk.usage);
      const wire = encoder.encode(chunk);
      if (wire) await writeEvent(res, JSON.stringify(wire));
      if (res.destroyed) break;
    }
    if (res.destroyed) {
      outcome = 'client_closed';
    } else if (!encoder.complete(chat.params.n ?? 1)) {
      throw new Error('upstream stream ended without a finish reason');
    }
  } catch (err) {
    if (res.destroyed) {
      outcome = 'client_closed';
    } else if (encoder.complete(chat.params.n ?? 1)) {
      // Every choice finished; only the trailing usage chunk was lost. The answer is whole.
      log.warn({ route: chat.model, provider: served.target.provider, err: (err as Error).message }, 'stream ended uncleanly after its finish');
    } else if (stop?.aborted) {
      // The shutdown drain ran out: say so in-stream, never a silent end.
      outcome = 'shutdown';
      await writeEvent(res, shuttingDownEvent());
    } else {
      // Bytes are out: no failover is possible, so say so in-stream rather than end silently.
      const kind = isProviderError(err) ? err.kind : 'server';
      outcome = `stream_${kind}`;
      deps.metrics.streamErrors.inc({ ...labels, kind });
      const e = toWireError(err);
      const message = isProviderError(err) ? err.message : `${served.target.provider}: ${(err as Error).message}`;
      log.warn({ route: chat.model, provider: served.target.provider, kind, detail: isProviderError(err) ? (err.detail ?? err.message) : (err as Error)?.message }, 'stream failed after first byte');
      const code = isProviderError(err) && err.code === STREAM_TOO_LONG ? STREAM_TOO_LONG : 'stream_interrupted';
      await writeEvent(res, JSON.stringify({ error: { ...e.body.error, message: `The stream was interrupted: ${message}`, code } }));
    }
  }
  if (!res.destroyed) {
    await writeEvent(res, '[DONE]');
    res.end();
  }
  const totalMs = performance.now() - chat.meta.receivedAt;
  deps.metrics.requests.inc({ ...labels, outcome, stream: 'true' });
  deps.metrics.latency.observe({ ...labels, stream: 'true' }, totalMs / 1000);
  log.info({ route: chat.model, provider: served.target.provider, model: served.target.model, ms: Math.round(totalMs), outcome }, 'streamed');
}
