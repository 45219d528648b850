import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';
import type { Logger } from 'pino';
import type { ChatRequest } from '../core/chat-request.js';
import type { Usage } from '../core/chat-response.js';
import { isProviderError } from '../core/provider-error.js';
import { startDeadline, type Deadline } from '../core/deadline.js';
import { LightController } from '../core/light-abort.js';
import type { RouteConfig } from '../config/schema.js';
import { mayUseRoute } from '../identity/authenticator.js';
import { routeNotAllowed } from '../identity/identity-errors.js';
import { LimitRefusal } from '../policies/limits-policy.js';
import { formatUsd, type MeterEnd, type RequestMeter, type RequestUsage } from '../policies/request-meter.js';
import type { RequestSafety, SafetyRuntime } from '../safety/safety-runtime.js';
import type { Metrics } from '../observability/metrics.js';
import { formatAttemptsHeader, formatFallbackHeader, type Attempt } from '../routing/attempts.js';
import type { Dispatcher, RoutedResponse, RoutedStream } from '../routing/dispatcher.js';
import { RouteError } from '../routing/route-error.js';
import { STREAM_TOO_LONG } from '../routing/stream-guards.js';
import { WireChunkEncoder, toWireResponse, type WireEnvelope } from '../wire/chunk-encoder.js';
import { parseChatRequest } from '../wire/parse-chat-request.js';
import { identityOf } from './client-auth.js';
import { toWireError, type WireError } from './http-errors.js';
import { sendWireError, writeJson } from './connection.js';
import { abortable, shuttingDownError, shuttingDownEvent, type Flight, type InflightRegistry } from './inflight.js';
import { lazyChild } from '../observability/logger.js';
import { SSE_HEADERS, writeEvent } from './sse.js';
import { CACHE_HEADER, COALESCED_HEADER, requestCache, storeWhenWhole, type RequestCache } from './request-cache.js';
import type { FeatureRuntime } from '../runtime/feature-runtime.js';
import type { Target } from '../core/provider.js';
import { replayStream, type CacheLookup } from '../cache/index.js';
import type { ChatMessage } from '../core/chat-request.js';
import type { ChatResponse } from '../core/chat-response.js';
import type { Identity } from '../identity/types.js';
import { answerMessage, spliceHistory, toStore } from '../sessions/splice.js';
import { planSummary, summaryMessage, summaryPrompt, type SessionSummaryConfig } from '../sessions/summarize.js';
import { InvalidSessionId, isValidSessionId } from '../sessions/session-types.js';
import { sessionWireError } from '../sessions/session-http-errors.js';
import { WireValidationError } from '../wire/wire-common.js';
import { StateUnavailableError } from '../state/types.js';
import { jobCreatedView } from '../jobs/index.js';
import type { Tracing } from '../observability/tracing.js';
import { formatEvent, lastEventIdOf, parseEventId, STREAM_ID_HEADER, wantsResumable, writeFrame, type ResumableStream } from '../streams/resumable-stream.js';
import { ContentPolicyViolation } from '../safety/safety-errors.js';
import { messageTexts } from '../safety/text-fields.js';
import { decisionCounts } from '../safety/decisions.js';

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
  /** The route config in force for a name the app sent (own names only); needed for limits. */
  route?: (name: string) => RouteConfig | undefined;
  /** Limits, cost and usage records; absent: none. */
  meter?: RequestMeter;
  /** Content safety (lexicons, PII, privacy routing) and the audit log; absent: none. */
  safety?: SafetyRuntime;
  /** The response cache and coalescing; absent: none. */
  features?: FeatureRuntime;
  /** OpenTelemetry traces; undefined (or absent) when off: then nothing is traced at all. */
  tracing?: () => Tracing | undefined;
}

/** Ends the accounting of a request once: the usage record, then the filter metrics and audit lines. `answer`: the text the app received (audit text capture). */
type Finish = (end: MeterEnd, answer?: string) => void;

/** Response header with the cost of a non-streamed answer in USD (absent when the price is unknown). */
export const COST_HEADER = 'x-router-cost-usd';

// A random prefix per process and a counter: unique, and no crypto call per request.
const idPrefix = `chatcmpl-${randomBytes(6).toString('base64url')}`;
let idCounter = 0;
const newCompletionId = () => `${idPrefix}${(idCounter++).toString(36).padStart(6, '0')}`;

/** Who answered and what the router changed: x-router-provider/model/attempts/fallback/overhead and the call's notes. */
export function routerHeaders(res: ServerResponse, served: Pick<RoutedResponse, 'target' | 'attempts' | 'notes'>, overheadMs: number): void {
  res.setHeader('x-router-provider', served.target.provider);
  res.setHeader('x-router-model', served.target.model);
  res.setHeader('x-router-attempts', formatAttemptsHeader(served.attempts));
  const fallback = formatFallbackHeader(served.attempts);
  if (fallback) res.setHeader('x-router-fallback', fallback);
  res.setHeader('x-router-overhead-ms', overheadMs.toFixed(3));
  for (const [k, v] of Object.entries(served.notes?.headers ?? {})) res.setHeader(k, v);
}

function setHeaders(res: ServerResponse, headers: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(headers ?? {})) res.setHeader(k, v);
}

const accessLoggers = new WeakMap<Logger, Logger>();

/**
 * The logger of the one line per answer ("served", "streamed"): the same destination, level and
 * bindings, without the wildcard redaction, which clones the object of every line it sees. Its
 * fields are the router's own (request id, route, target, timings), never a header or a body.
 */
function accessLog(logger: Logger): Logger {
  let access = accessLoggers.get(logger);
  if (!access) accessLoggers.set(logger, (access = logger.child({}, { redact: [] })));
  return access;
}

function sendError(res: ServerResponse, e: WireError, attempts?: Attempt[], usage?: RequestUsage): void {
  if (attempts?.length) res.setHeader('x-router-attempts', formatAttemptsHeader(attempts));
  setHeaders(res, usage?.headers());
  sendWireError(res, e);
}

/** What the chat handler needs of a request: node's, with the parsed JSON body (express's Request is one). */
export type ChatHttpRequest = IncomingMessage & { body?: unknown };
/** What it needs of a response: node's, with the request's locals (request id, receivedAt, identity). */
export type ChatHttpResponse = ServerResponse & { locals: Record<string, unknown> };

/** POST /v1/chat/completions */
export function createChatHandler(deps: ChatHandlerDeps) {
  /** The resumable-stream store failed last time (logged once per outage). */
  let resumableDown = false;
  return async (req: ChatHttpRequest, res: ChatHttpResponse): Promise<void> => {
    const receivedAt = (res.locals.receivedAt as number | undefined) ?? performance.now();
    const requestId = res.locals.requestId as string;
    // Registered for the shutdown drain; `stop` aborts when the drain time is up.
    const flight = deps.inflight?.begin(res);
    // Aborts upstream work when the app goes away before the answer is complete, or the drain
    // runs out (the flight calls it: one controller per request, no composite signal).
    const client = new LightController();
    flight?.onStop((reason) => client.abort(reason));
    // A resumable stream replaces this: the upstream goes on for a client that may come back.
    let onClientGone = () => client.abort(new DOMException('client closed the request', 'AbortError'));
    res.on('close', () => {
      if (!res.writableFinished) onClientGone();
    });
    /** A resumable stream's upstream call: it follows the drain, not the socket. */
    let upstream: Deadline | undefined;
    let signal = client.signal;
    const bounded = <T>(p: Promise<T>): Promise<T> => (flight ? flight.until(p) : p);

    let chat: ChatRequest | undefined;
    // Made on the first line logged: the common path writes only the access line.
    const log = lazyChild(deps.logger, { requestId });
    const identity = identityOf(res.locals);
    // Limits, cost and the usage record of this request: finished exactly once, whatever happens.
    const usage = deps.meter?.begin({ requestId, identity, receivedAt });
    const tr = deps.tracing?.()?.start('chat', req.headers, { 'gen_ai.operation.name': 'chat', 'http.request.method': 'POST', 'url.path': '/v1/chat/completions', 'llm_router.request_id': requestId });
    /** A policy step: a child span when traced, the plain call otherwise. */
    const step = <T>(name: string, fn: () => Promise<T> | T): Promise<T> | T => (tr ? tr.step(name, fn) : fn());
    let safety: RequestSafety | undefined;
    const finish: Finish = (end, answer) => {
      if (tr) {
        tr.attempts(end.attempts ?? []);
        tr.set({
          ...(end.target ? { 'gen_ai.response.model': end.target.model, 'gen_ai.provider.name': end.target.provider } : {}),
          ...(end.usage ? { 'gen_ai.usage.input_tokens': end.usage.promptTokens, 'gen_ai.usage.output_tokens': end.usage.completionTokens } : {}),
        });
        tr.end(end.outcome, !['ok', 'cache_hit', 'cache_stale', 'coalesced', 'queued'].includes(end.outcome));
      }
      // A request refused before its route was known is audited too.
      safety ??= deps.safety?.begin({ requestId, identity });
      const decisions = safety?.decisions() ?? [];
      const filters = decisions.length ? decisionCounts(decisions) : undefined;
      const metered = usage ? usage.finish(filters ? { ...end, filters } : end) : Promise.resolve(undefined);
      const known = chat !== undefined && deps.dispatcher().hasRoute(chat.model);
      safety?.finish({ record: metered.then((m) => m?.record), outcome: end.outcome, route: known ? chat!.model : 'unknown', chat, answer });
    };
    try {
      // A re-POST with Last-Event-ID naming a resumable stream: the rest of that stream, not a new call.
      const resumeAt = resumePointOf(req);
      const resumable = deps.features?.resumable();
      if (resumeAt && resumable) {
        // Only express routes a re-POST with Last-Event-ID here (the fast lane hands those over).
        await resumable.serveResume(req as Request, res as unknown as Parameters<typeof resumable.serveResume>[1], resumeAt);
        return;
      }
      chat = parseChatRequest(req.body, { requestId, receivedAt, apiKeyId: identity.keyId }, { maxDepth: deps.maxDepth?.() });
      const dispatcher = deps.dispatcher();
      const route = deps.route?.(chat.model);
      if (tr) {
        chat.meta.traceparent = tr.traceparent();
        tr.set({ 'gen_ai.request.model': chat.model, 'llm_router.stream': chat.stream, ...(chat.params.maxTokens !== undefined ? { 'gen_ai.request.max_tokens': chat.params.maxTokens } : {}), ...(chat.params.temperature !== undefined ? { 'gen_ai.request.temperature': chat.params.temperature } : {}), 'llm_router.key': identity.keyId });
      }
      safety = deps.safety?.begin({ requestId, identity, route });
      usage?.request(chat, dispatcher.hasRoute(chat.model));
      if (route && !mayUseRoute(identity, chat.model)) {
        deps.metrics.requests.inc({ route: chat.model, provider: 'none', outcome: 'model_not_allowed', stream: String(chat.stream) });
        log.info({ status: 403, kind: 'model_not_allowed', key: identity.keyId }, 'request rejected');
        finish({ outcome: 'model_not_allowed' });
        sendError(res, routeNotAllowed(chat.model));
        return;
      }
      // A session: the stored conversation goes in front of the new turn (before the limits
      // count it and the filters read it: the model receives all of it).
      const session = route && req.headers[SESSION_HEADER] !== undefined ? await step('session', () => openSession(deps, req, res, chat!, identity, route, signal, log)) : undefined;
      // Unknown routes go on to the dispatcher, which answers 404.
      if (route && usage) await step('limits', () => usage.admit(chat!, route));
      // Input filters: may refuse (400 content_policy_violation), rewrite the messages (mask,
      // redact) and keep the request on local/trusted targets (privacy routing).
      if (safety) await step('content_filters', () => safety!.input(chat!));
      if (deps.audit()) log.info({ audit: { messages: safety ? messageTextsForLog(chat, safety) : chat.messages } }, 'audit request');
      // The cache: a fresh hit answers at once; identical requests in flight share one call.
      const cache = route && deps.features ? requestCache(deps.features.cache, chat, route, identity, req.headers['cache-control']) : undefined;
      const hit = cache?.read ? await step('cache_lookup', () => cache.lookup(false)) : undefined;
      if (hit) {
        await serveCached(chat, hit, res, deps, log, finish, flight, usage, safety);
        return;
      }
      // A resumable stream: events get ids and a buffer; the upstream is not tied to this socket.
      let stream: ResumableStream | undefined;
      if (chat.stream && route && resumable && wantsResumable(req.headers, route.resumable)) {
        const call = (upstream = startDeadline());
        flight?.onStop((reason) => call.abort(reason));
        stream = await resumable.begin(identity.keyId, () => call.abort(new DOMException('no client came back for the resumable stream', 'AbortError'))).catch((err: unknown) => {
          // Once per outage (the store coming back resets it), not once per stream.
          if (!resumableDown) log.warn({ err: (err as Error).message }, 'streams served without resumption (resumable streams unavailable)');
          resumableDown = true;
          return undefined;
        });
        if (stream) {
          if (resumableDown) log.info('resumable streams available again');
          resumableDown = false;
          const rs = stream;
          signal = call.signal;
          onClientGone = () => rs.detach();
          res.setHeader(STREAM_ID_HEADER, rs.id);
        }
      }
      try {
        if (chat.stream) {
          const { served, shared } = cache ? await bounded(cache.stream((s) => dispatcher.stream(chat!, s), signal)) : { served: await bounded(dispatcher.stream(chat, signal)), shared: false };
          await serveStream(chat, served, res, deps, log, finish, flight, usage, safety, cache && { cache, shared }, session, stream);
        } else {
          const { served, shared } = cache ? await bounded(cache.chat((s) => dispatcher.chat(chat!, s), signal)) : { served: await bounded(dispatcher.chat(chat, signal)), shared: false };
          await serveJson(chat, served, res, deps, log, finish, usage, safety, cache && { cache, shared }, session);
        }
      } catch (err) {
        // The stream never started: nothing to resume.
        void stream?.end();
        // Degradation: no target could answer; an answer past its TTL (within maxStaleMs) is better than none.
        const stale = cache && cache.cfg.maxStaleMs > 0 && degradable(err) && !flight?.stopped ? await cache.lookup(true) : undefined;
        // Then, when the app opted in (x-router-degrade: async), a job that runs when a target recovers.
        const jobs = deps.features?.jobs();
        if (!stale && jobs && !chat.stream && degradable(err) && !flight?.stopped && wantsDegradeAsync(req.headers)) {
          const job = await jobs.submit(identity.keyId, identity.team, req.body);
          log.warn({ route: chat.model, job: job.id }, 'no target could answer; the request was queued as a job');
          finish({ outcome: 'queued', attempts: err instanceof RouteError ? err.attempts : undefined });
          res.setHeader(DEGRADED_HEADER, 'queued');
          res.setHeader('location', `/v1/jobs/${job.id}`);
          writeJson(res, 202, jobCreatedView(job));
          return;
        }
        if (!stale) throw err;
        log.warn({ route: chat.model, ageMs: stale.ageMs }, 'no target could answer; serving a stale cached answer');
        await serveCached(chat, stale, res, deps, log, finish, flight, usage, safety, err instanceof RouteError ? err.attempts : []);
      }
    } catch (err) {
      if (flight?.stopped) {
        // The shutdown drain ran out before this request was answered.
        client.abort(flight.reason);
        finish({ outcome: 'shutdown', attempts: err instanceof RouteError ? err.attempts : undefined });
        if (res.headersSent || res.destroyed) return;
        deps.metrics.requests.inc({ route: chat && deps.dispatcher().hasRoute(chat.model) ? chat.model : 'unknown', provider: 'none', outcome: 'shutdown', stream: String(chat?.stream ?? false) });
        sendError(res, shuttingDownError(), undefined, usage);
        return;
      }
      const route = chat?.model ?? 'unknown';
      const attempts = err instanceof RouteError ? err.attempts : undefined;
      const e = (err instanceof StateUnavailableError && !(err instanceof SessionUnavailable) ? undefined : sessionWireError(err, 'x-session-id')) ?? toWireError(err);
      const kind = err instanceof RouteError ? (err.last?.kind ?? err.reason) : isProviderError(err) ? err.kind : e.body.error.code;
      const known = deps.dispatcher().hasRoute(route);
      const outcome = err instanceof LimitRefusal ? (err.code === 'insufficient_quota' ? 'insufficient_quota' : 'rate_limited') : err instanceof ContentPolicyViolation ? 'content_policy_violation' : String(kind);
      finish({ outcome, attempts, ...(err instanceof LimitRefusal ? { limitKind: err.kind } : {}) });
      deps.metrics.requests.inc({ route: known ? route : 'unknown', provider: 'none', outcome, stream: String(chat?.stream ?? false) });
      if (e.status >= 500 && e.status !== 499) log.warn({ status: e.status, kind, attempts, detail: err instanceof RouteError ? (err.last?.detail ?? err.last?.message) : isProviderError(err) ? (err.detail ?? err.message) : (err as Error)?.message }, 'request failed');
      else log.info({ status: e.status, kind, ...(err instanceof LimitRefusal ? { key: identity.keyId, limit: err.kind } : {}), ...(err instanceof ContentPolicyViolation ? { filter: err.filter, category: err.category } : {}) }, 'request rejected');
      if (e.status === 499 || res.headersSent) return;
      sendError(res, e, attempts, usage);
    } finally {
      upstream?.dispose();
      flight?.done();
    }
  };
}

/** A conversation this request belongs to: the new turn is saved with the answer. */
interface OpenSession {
  /** Appends the turn and its answer; false when the store could not keep it (logged). */
  save(answer: ChatMessage, log: Logger): Promise<boolean>;
}

/**
 * Splices a session's history into the request when the app sent `x-session-id` (the
 * session is created by the first turn that names it). Throws the session errors (400 bad id,
 * 503 store down) for the edge to answer. Sets x-router-session-turns.
 */
async function openSession(deps: ChatHandlerDeps, req: ChatHttpRequest, res: ServerResponse, chat: ChatRequest, identity: Identity, route: RouteConfig, signal: AbortSignal, log: Logger): Promise<OpenSession | undefined> {
  const header = req.headers[SESSION_HEADER];
  if (header === undefined) return undefined;
  const store = deps.features?.sessions();
  const id = Array.isArray(header) ? header[0] : header;
  if (!store) throw new WireValidationError('Sessions are off on this router (sessions.enabled: false).', 'x-session-id');
  if (!isValidSessionId(id)) throw new InvalidSessionId();
  const incoming = structuredClone(chat.messages);
  const stored = await store.get(id, identity.keyId).catch((err: unknown) => {
    throw err instanceof StateUnavailableError ? new SessionUnavailable(err.message) : err;
  });
  let history = stored?.messages ?? [];
  const plan = route.sessionSummary ? planSummary(history, route.sessionSummary) : undefined;
  if (plan && route.sessionSummary) {
    const summary = await summarize(deps, chat, identity, route.sessionSummary, plan.old, signal, log);
    if (summary !== undefined) {
      history = [...plan.lead, summaryMessage(summary), ...plan.kept];
      try {
        await store.delete(id, identity.keyId);
        await store.append(id, identity.keyId, history);
        res.setHeader('x-router-session-summarized', `${plan.old.length} messages`);
      } catch (err) {
        log.warn({ session: id, err: (err as Error).message }, 'the session summary could not be stored');
      }
    }
  }
  const spliced = spliceHistory(history, incoming);
  chat.messages = spliced.messages;
  chat.meta.sessionId = id;
  if (spliced.history) chat.meta.fitHistory = true;
  res.setHeader('x-router-session-id', id);
  res.setHeader('x-router-session-turns', String(spliced.turns));
  return {
    async save(answer, log) {
      try {
        await store.append(id, identity.keyId, toStore(incoming, answer));
        return true;
      } catch (err) {
        // The app has its answer; the turn is missing from the session, which the log says.
        log.warn({ session: id, err: (err as Error).message }, 'the turn could not be saved to its session');
        return false;
      }
    },
  };
}

/**
 * Asks the summary route for a summary of old turns, metered as a request of the same caller.
 * Undefined when it fails (the turns are then only dropped when they no longer fit).
 */
async function summarize(deps: ChatHandlerDeps, chat: ChatRequest, identity: Identity, cfg: SessionSummaryConfig, old: ChatMessage[], signal: AbortSignal, log: Logger): Promise<string | undefined> {
  const requestId = `${chat.meta.requestId}-summary`;
  const receivedAt = performance.now();
  const req: ChatRequest = { model: cfg.route, messages: summaryPrompt(old), params: { maxTokens: cfg.maxTokens, temperature: 0 }, stream: false, includeUsage: false, passthrough: Object.create(null) as Record<string, unknown>, meta: { requestId, receivedAt, apiKeyId: identity.keyId } };
  const usage = deps.meter?.begin({ requestId, identity, receivedAt });
  const route = deps.route?.(cfg.route);
  try {
    usage?.request(req, route !== undefined);
    if (route && usage) await usage.admit(req, route);
    const served = await deps.dispatcher().chat(req, signal);
    const text = served.response.choices[0]?.message.content;
    void usage?.finish({ outcome: 'ok', target: served.target, usage: served.response.usage, streamedText: served.response.usage ? undefined : (text ?? ''), attempts: served.attempts });
    return text?.trim() ? text : undefined;
  } catch (err) {
    void usage?.finish({ outcome: 'summary_failed', attempts: err instanceof RouteError ? err.attempts : undefined });
    log.warn({ route: cfg.route, err: (err as Error).message }, 'the session could not be summarised; older turns are dropped when they do not fit');
    return undefined;
  }
}

/** The session store could not be read (503 naming the session store, not the limits). */
class SessionUnavailable extends StateUnavailableError {}

/** A re-POST's `Last-Event-ID` when it names a resumable stream (`<streamId>.<seq>`). */
function resumePointOf(req: ChatHttpRequest): { streamId: string; afterId?: string } | undefined {
  // The fast lane hands every request with Last-Event-ID or a query to express: only an express request can name a stream.
  const last = 'get' in req ? lastEventIdOf(req as Request) : undefined;
  const point = last ? parseEventId(last) : undefined;
  return point?.streamId ? { streamId: point.streamId, ...(point.afterId !== undefined ? { afterId: point.afterId } : {}) } : undefined;
}

/** Request header naming the conversation a request continues. */
export const SESSION_HEADER = 'x-session-id';

/** Whether a failure means no target could answer (then the degradation ladder applies), not a fault of the request. */
function degradable(err: unknown): boolean {
  if (!(err instanceof RouteError)) return false;
  if (err.reason === 'no_available_target') return true;
  return err.reason === 'exhausted' && err.last !== undefined && ['server', 'timeout', 'network', 'rate_limit', 'breaker_open', 'capacity'].includes(err.last.kind);
}

/** Answers from the cache: JSON, or replayed as a well-formed stream, through the request's output filters. */
async function serveCached(chat: ChatRequest, hit: CacheLookup, res: ServerResponse, deps: ChatHandlerDeps, log: Logger, finish: Finish, stop: Flight | undefined, usage: RequestUsage | undefined, safety: RequestSafety | undefined, attempts: Attempt[] = []): Promise<void> {
  const response = structuredClone(hit.answer.response);
  const target: Target = { provider: 'cache', model: response.model };
  const headers: Record<string, string> = { 'x-router-cache-age-ms': String(Math.round(hit.ageMs)) };
  if (hit.stale) headers[DEGRADED_HEADER] = 'stale-cache';
  const reuse: Reuse = { hit: { stale: hit.stale, ageMs: hit.ageMs, ...(hit.answer.target ? { target: hit.answer.target } : {}) } };
  if (chat.stream) {
    // A replay follows no signal: the drain's end reaches it through this guard (a live stream's
    // reader follows the request's signal, which the flight aborts).
    const replay = replayStream(response, { includeUsage: true });
    const served: RoutedStream = { stream: { model: response.model, chunks: stop ? abortable(replay, stop.signal) : replay }, target, attempts, upstreamMs: 0, notes: { headers } };
    await serveStream(chat, served, res, deps, log, finish, stop, usage, safety, reuse);
  } else {
    await serveJson(chat, { response, target, attempts, upstreamMs: 0, notes: { headers } }, res, deps, log, finish, usage, safety, reuse);
  }
}

/** `x-router-degrade: async`: the app accepts a 202 and a job when no target can answer now. */
function wantsDegradeAsync(headers: IncomingMessage['headers']): boolean {
  const v = headers['x-router-degrade'];
  return (Array.isArray(v) ? v[0] : v)?.trim().toLowerCase() === 'async';
}

/** Response header naming the degradation step that answered (stale-cache, rules, queued). */
export const DEGRADED_HEADER = 'x-router-degraded';

/** The request's texts for the `logging.audit` log line: after the input filters, secrets and the policy's PII kinds replaced by labels. */
function messageTextsForLog(chat: ChatRequest, safety: RequestSafety): string[] {
  return messageTexts(chat.messages).map((t) => safety.redactForRecord(t));
}

function envelope(model: string, created?: number, fingerprint?: string | null): WireEnvelope {
  return { id: newCompletionId(), created: created ?? Math.floor(Date.now() / 1000), model, ...(fingerprint !== undefined ? { systemFingerprint: fingerprint } : {}) };
}

/**
 * How an answer relates to the cache: `cache` (it may be stored), `shared` (it came from an
 * identical request in flight), `hit` (it came from the cache). Shared and cached answers cost
 * the app nothing: their usage record says so, and what they saved is counted apart.
 */
interface Reuse {
  cache?: RequestCache;
  shared?: boolean;
  hit?: { stale: boolean; ageMs: number; target?: Target };
}

/** The outcome of a reused answer, its cache header, and what it saved (metrics). */
function reuseOf(reuse: Reuse | undefined): { outcome?: string; header?: string } {
  if (reuse?.hit) return { outcome: reuse.hit.stale ? 'cache_stale' : 'cache_hit', header: reuse.hit.stale ? 'stale' : 'hit' };
  if (reuse?.shared) return { outcome: 'coalesced', header: 'hit' };
  return reuse?.cache ? { header: reuse.cache.status } : {};
}

function countReuse(deps: ChatHandlerDeps, route: string, reuse: Reuse | undefined, answer: Usage | undefined, usage: RequestUsage | undefined, producer: Target | undefined): void {
  const m = deps.features?.cacheMetrics;
  if (!m || !reuse || (!reuse.cache && !reuse.hit)) return;
  const result = reuse.hit ? (reuse.hit.stale ? 'stale' : 'hit') : reuse.shared ? 'coalesced' : reuse.cache!.status;
  m.lookups.inc({ route, result });
  if (result === 'miss' || result === 'bypass' || !answer) return;
  m.tokensSaved.inc({ route, type: 'prompt' }, answer.promptTokens);
  m.tokensSaved.inc({ route, type: 'completion' }, answer.completionTokens);
  const nanos = producer && usage ? usage.costOf(producer, answer) : null;
  if (nanos) m.costSaved.inc({ route }, nanos / 1e9);
}

async function serveJson(chat: ChatRequest, served: RoutedResponse, res: ServerResponse, deps: ChatHandlerDeps, log: Logger, finish: Finish, usage?: RequestUsage, safety?: RequestSafety, reuse?: Reuse, session?: OpenSession): Promise<void> {
  const r = served.response;
  const reused = reuseOf(reuse);
  // Stored as the upstream gave it, before the filters: a hit goes through the filters of the request it answers.
  if (reuse?.cache && !reuse.shared && !reuse.hit) reuse.cache.store(r, served.target);
  // Output filters (mask, block → the route's refusal) and restored placeholders, before any byte goes out.
  safety?.response(r);
  const body = toWireResponse(r, envelope(r.model, r.created, r.systemFingerprint));
  const totalMs = performance.now() - chat.meta.receivedAt;
  const overheadMs = Math.max(0, totalMs - served.upstreamMs);
  routerHeaders(res, served, overheadMs);
  setHeaders(res, usage?.headers());
  // Priced by the target that served (a fallback is billed at its own price). No header when
  // the price is unknown: never "0" for a cost nobody knows (a local model's 0 is real).
  const cost = reused.outcome ? 0 : usage && r.usage ? usage.costOf(served.target, r.usage) : null;
  if (cost !== null) res.setHeader(COST_HEADER, formatUsd(cost));
  if (reused.header) res.setHeader(CACHE_HEADER, reused.header);
  if (reuse?.shared) res.setHeader(COALESCED_HEADER, 'true');
  // The answer joins the conversation (as the app receives it) before the app can send the next turn.
  // A turn the store could not keep is said in a header (the app may resend it).
  if (session && r.choices[0] && !(await session.save(answerMessage(r.choices[0].message), log))) res.setHeader('x-router-session-saved', 'false');
  writeJson(res, 200, body);
  const hot = deps.metrics.hot;
  hot.requests.inc([chat.model, served.target.provider, 'ok', 'false']);
  hot.latency.observe([chat.model, served.target.provider, 'false'], totalMs / 1000);
  hot.overhead.observe([chat.model, 'false'], overheadMs / 1000);
  if (!reused.outcome) countTokens(deps, chat.model, served.target.provider, r.usage);
  countReuse(deps, chat.model, reuse, r.usage, usage, reuse?.hit ? reuse.hit.target : served.target);
  // No usage reported: the answer's text is counted instead.
  const answered = r.usage ? undefined : r.choices.map((c) => `${c.message.content ?? ''}${(c.message.toolCalls ?? []).map((t) => t.function.name + t.function.arguments).join('')}`).join('');
  const captured = deps.safety?.auditLog() ? r.choices.map((c) => c.message.content ?? '').join('\n') : undefined;
  // A reused answer was paid for once, by the request that produced it.
  if (reused.outcome) finish({ outcome: reused.outcome, attempts: served.attempts }, captured);
  else finish({ outcome: 'ok', target: served.target, usage: r.usage, streamedText: answered, attempts: served.attempts }, captured);
  accessLog(deps.logger).info({ requestId: chat.meta.requestId, route: chat.model, provider: served.target.provider, model: served.target.model, ms: Math.round(totalMs), attempts: served.attempts.length }, 'served');
}

function countTokens(deps: ChatHandlerDeps, route: string, provider: string, usage?: { promptTokens: number; completionTokens: number }): void {
  if (!usage) return;
  deps.metrics.hot.tokens.inc([route, provider, 'prompt', 'live'], usage.promptTokens);
  deps.metrics.hot.tokens.inc([route, provider, 'completion', 'live'], usage.completionTokens);
}

async function serveStream(chat: ChatRequest, served: RoutedStream, res: ServerResponse, deps: ChatHandlerDeps, log: Logger, finish: Finish, stop?: Flight, usage?: RequestUsage, safety?: RequestSafety, reuse?: Reuse, session?: OpenSession, resumable?: ResumableStream): Promise<void> {
  const s = served.stream;
  // Every event goes to the socket; a resumable stream's also to its buffer, with its id, and
  // the stream is read to its end when the client is gone (it may come back).
  const emit = (data: string): Promise<void> | undefined => (resumable ? emitResumable(resumable, data) : writeEvent(res, data));
  const emitResumable = async (rs: ResumableStream, data: string): Promise<void> => {
    const id = await rs.write(data);
    if (!res.destroyed) await writeFrame(res, formatEvent(id, data));
  };
  const gone = () => res.destroyed && !resumable;
  const reused = reuseOf(reuse);
  const cache = reuse?.cache;
  // A stream that ends whole is stored as the upstream gave it (before the filters).
  const raw = cache && !reuse.shared && !reuse.hit ? storeWhenWhole(s.chunks, s.model, chat.params.n ?? 1, (r) => cache.store(r, served.target)) : s.chunks;
  // Output filters as a stream transform: a term split across chunks is still caught.
  const filtered = safety ? safety.stream(raw, chat.params.n ?? 1) : raw;
  // A whole answer joins the conversation as the app received it; a broken one does not.
  let answered: ChatResponse | undefined;
  const chunks = session ? storeWhenWhole(filtered, s.model, chat.params.n ?? 1, (r) => (answered = r)) : filtered;
  const encoder = new WireChunkEncoder({ ...envelope(s.model, undefined, s.systemFingerprint), promptFilterResults: s.promptFilterResults }, chat.includeUsage);
  const headersAt = performance.now();
  const overheadMs = Math.max(0, headersAt - chat.meta.receivedAt - served.upstreamMs);
  routerHeaders(res, served, overheadMs);
  setHeaders(res, usage?.headers());
  if (reused.header) res.setHeader(CACHE_HEADER, reused.header);
  if (reuse?.shared) res.setHeader(COALESCED_HEADER, 'true');
  res.writeHead(200, SSE_HEADERS);
  const labels = { route: chat.model, provider: served.target.provider };
  const ttftMs = headersAt - chat.meta.receivedAt;
  deps.metrics.hot.timeToFirstToken.observe([chat.model, served.target.provider], ttftMs / 1000);
  deps.metrics.hot.overhead.observe([chat.model, 'true'], overheadMs / 1000);
  let outcome = 'ok';
  // What the app received, for accounting when no usage is reported (the app left, the stream broke).
  const sent: string[] = [];
  let reported: Usage | undefined;
  try {
    // The drain's end reaches the stream through the request's signal (the flight aborts it;
    // providers' readers, the coalescer and the resumable call follow it; a cache replay is guarded where it is made).
    for await (const chunk of chunks) {
      if (chunk.type === 'usage') {
        reported = chunk.usage;
        if (!reused.outcome) countTokens(deps, chat.model, served.target.provider, chunk.usage);
      } else if (chunk.type === 'delta' && (usage || safety)) {
        if (chunk.text) sent.push(chunk.text);
        if (chunk.refusal) sent.push(chunk.refusal);
        for (const t of chunk.toolCalls ?? []) sent.push(`${t.function?.name ?? ''}${t.function?.arguments ?? ''}`);
      }
      // The cost of the answer on its usage chunk, priced by the target that served: null when its price is unknown.
      const cost = chunk.type === 'usage' && usage && chat.includeUsage ? (reused.outcome ? 0 : usage.costOf(served.target, chunk.usage)) : undefined;
      const wire = encoder.encodeJson(chunk, cost === undefined ? undefined : { cost_usd: cost === null ? null : Number(formatUsd(cost)) });
      if (wire) {
        // Awaited only when the socket is backed up (or the event goes to a resumable buffer).
        const written = emit(wire);
        if (written) await written;
      }
      if (gone()) break;
    }
    if (gone()) {
      outcome = 'client_closed';
    } else if (!encoder.complete(chat.params.n ?? 1)) {
      throw new Error('upstream stream ended without a finish reason');
    }
  } catch (err) {
    if (res.destroyed && (!resumable || (isProviderError(err) && err.kind === 'aborted'))) {
      outcome = 'client_closed';
    } else if (encoder.complete(chat.params.n ?? 1)) {
      // Every choice finished; only the trailing usage chunk was lost. The answer is whole.
      log.warn({ route: chat.model, provider: served.target.provider, err: (err as Error).message }, 'stream ended uncleanly after its finish');
    } else if (stop?.stopped) {
      // The shutdown drain ran out: say so in-stream, never a silent end.
      outcome = 'shutdown';
      await emit(shuttingDownEvent());
    } else {
      // Bytes are out: no failover is possible, so say so in-stream rather than end silently.
      const kind = isProviderError(err) ? err.kind : 'server';
      outcome = `stream_${kind}`;
      deps.metrics.streamErrors.inc({ ...labels, kind });
      const e = toWireError(err);
      const message = isProviderError(err) ? err.message : `${served.target.provider}: ${(err as Error).message}`;
      log.warn({ route: chat.model, provider: served.target.provider, kind, detail: isProviderError(err) ? (err.detail ?? err.message) : (err as Error)?.message }, 'stream failed after first byte');
      const code = isProviderError(err) && err.code === STREAM_TOO_LONG ? STREAM_TOO_LONG : 'stream_interrupted';
      await emit(JSON.stringify({ error: { ...e.body.error, message: `The stream was interrupted: ${message}`, code } }));
    }
  }
  if (session && answered?.choices[0]) await session.save(answerMessage(answered.choices[0].message), log);
  if (resumable) {
    if (outcome !== 'client_closed') await emit('[DONE]');
    await resumable.end();
    if (!res.destroyed) res.end();
  } else if (!res.destroyed) {
    await writeEvent(res, '[DONE]');
    res.end();
  }
  // Settled with the usage reported, else with the prompt and what the app received (an
  // interrupted stream was still generated, and billed, up to where it stopped).
  const streamed = sent.join('');
  countReuse(deps, chat.model, reuse, reported, usage, reuse?.hit ? reuse.hit.target : served.target);
  if (reused.outcome && outcome === 'ok') finish({ outcome: reused.outcome, ttftMs, attempts: served.attempts }, streamed);
  else if (reused.outcome) finish({ outcome, ttftMs, attempts: served.attempts }, streamed);
  else finish({ outcome, target: served.target, usage: reported, streamedText: streamed, ttftMs, attempts: served.attempts }, streamed);
  const totalMs = performance.now() - chat.meta.receivedAt;
  deps.metrics.hot.requests.inc([chat.model, served.target.provider, outcome, 'true']);
  deps.metrics.hot.latency.observe([chat.model, served.target.provider, 'true'], totalMs / 1000);
  accessLog(deps.logger).info({ requestId: chat.meta.requestId, route: chat.model, provider: served.target.provider, model: served.target.model, ms: Math.round(totalMs), outcome }, 'streamed');
}
