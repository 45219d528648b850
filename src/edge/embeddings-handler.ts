/**
 * POST /v1/embeddings: parse (src/wire/embeddings), check the caller may use the route, admit
 * through the request meter (limits, budgets), route (the dispatcher's embed: retries,
 * fallback, breakers, slots, deadline), answer in OpenAI's shape (float or base64), and settle
 * usage, cost and the usage record exactly once.
 */
import { startDeadline } from '../core/deadline.js';
import express, { type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import type { ChatRequest } from '../core/chat-request.js';
import type { EmbedRequest } from '../core/provider.js';
import { isProviderError } from '../core/provider-error.js';
import type { RouteConfig } from '../config/schema.js';
import { mayUseRoute } from '../identity/authenticator.js';
import { routeNotAllowed } from '../identity/identity-errors.js';
import type { Metrics } from '../observability/metrics.js';
import { LimitRefusal } from '../policies/limits-policy.js';
import { formatUsd, type MeterEnd, type RequestMeter, type RequestUsage } from '../policies/request-meter.js';
import type { RequestSafety, SafetyRuntime } from '../safety/safety-runtime.js';
import { contentText } from '../core/chat-request.js';
import type { ResponseCache } from '../cache/index.js';
import { embeddingCache } from './embeddings-cache.js';
import { decisionCounts } from '../safety/decisions.js';
import { formatAttemptsHeader, type Attempt } from '../routing/attempts.js';
import type { Dispatcher } from '../routing/dispatcher.js';
import { embedUsage } from '../routing/embed-dispatch.js';
import { RouteError } from '../routing/route-error.js';
import { parseEmbeddingRequest } from '../wire/embeddings/parse-embedding-request.js';
import { toWireEmbeddingResponse } from '../wire/embeddings/embedding-response.js';
import { COST_HEADER, routerHeaders } from './chat-handler.js';
import { identityOf } from './client-auth.js';
import { toWireError, type WireError } from './http-errors.js';
import { shuttingDownError, type InflightRegistry } from './inflight.js';

export interface EmbeddingsDeps {
  /** The dispatcher in force (config reloads replace it). */
  dispatcher: () => Dispatcher;
  /** The route config in force for a name the app sent (own names only); needed for limits. */
  routes: (name: string) => RouteConfig | undefined;
  /** Limits, cost and usage records; absent: none. */
  meter?: RequestMeter;
  /** Content safety: the input filters and privacy routing apply to embeddings inputs too. */
  safety?: SafetyRuntime;
  /** The response cache store (routes.<name>.cache turns it on for a route). */
  cache?: () => ResponseCache | undefined;
  metrics: Metrics;
  logger: Logger;
  /** Deepest JSON nesting accepted in a body (server.limits.maxDepth). */
  maxDepth?: () => number;
  /** Requests in flight, for graceful shutdown; absent: not drained. */
  inflight?: InflightRegistry;
  /** The app's JSON body parser (live body limit, early 413); absent: express.json with a 1mb limit. */
  jsonBody?: RequestHandler;
}

/** Mounts POST /embeddings on `router` (the app's /v1 router, behind client auth). */
export function mountEmbeddings(router: express.Router, deps: EmbeddingsDeps): void {
  router.post('/embeddings', deps.jsonBody ?? express.json({ limit: '1mb', type: () => true }), createEmbeddingsHandler(deps));
}

/**
 * The request as the meter reads it (a ChatRequest: the route name, one user message to count
 * tokens in, no completion). Token-array inputs are stood in for by a text of as many tokens
 * (" a" is one token in OpenAI's encodings): only the count matters to admission, and the
 * record is settled with the usage the target reports.
 */
function meteredShape(req: EmbedRequest): ChatRequest {
  const content = req.inputs.map((i) => (typeof i === 'string' ? i : ' a'.repeat(i.length))).join('\n');
  return { model: req.model, messages: [{ role: 'user', content }], params: { maxTokens: 0 }, stream: false, includeUsage: false, passthrough: {}, meta: req.meta };
}

function sendError(res: Response, e: WireError, attempts?: Attempt[], usage?: RequestUsage): void {
  if (attempts?.length) res.setHeader('x-router-attempts', formatAttemptsHeader(attempts));
  for (const [k, v] of Object.entries({ ...usage?.headers(), ...e.headers })) res.setHeader(k, v);
  res.status(e.status).json(e.body);
}

/** POST /v1/embeddings */
/** Runs the chat input filters over an embeddings request's text inputs (token arrays are not text: left as they are). */
function filterEmbeddingInputs(embed: EmbedRequest, safety: RequestSafety): void {
  const texts = embed.inputs.flatMap((input, index) => (typeof input === 'string' ? [{ index, text: input }] : []));
  if (!texts.length) return;
  const shape: ChatRequest = {
    model: embed.model,
    messages: texts.map((t) => ({ role: 'user' as const, content: t.text })),
    params: {},
    stream: false,
    includeUsage: false,
    passthrough: Object.create(null) as Record<string, unknown>,
    meta: { ...embed.meta },
  };
  safety.input(shape);
  texts.forEach((t, k) => (embed.inputs[t.index] = contentText(shape.messages[k]!.content)));
  if (shape.meta.privacy) embed.meta.privacy = shape.meta.privacy;
}

export function createEmbeddingsHandler(deps: EmbeddingsDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    const receivedAt = (res.locals.receivedAt as number | undefined) ?? performance.now();
    const requestId = res.locals.requestId as string;
    const flight = deps.inflight?.begin(res);
    // Aborts upstream work when the app goes away before the answer is complete, or the drain runs out.
    const client = startDeadline();
    flight?.onStop((reason) => client.abort(reason));
    res.on('close', () => {
      if (!res.writableFinished) client.abort(new DOMException('client closed the request', 'AbortError'));
    });
    const signal = client.signal;
    const log = deps.logger.child({ requestId });
    const identity = identityOf(res.locals);
    const usage = deps.meter?.begin({ requestId, identity, receivedAt });
    let safety: RequestSafety | undefined;
    /** Ends the accounting once: the usage record, then the filter metrics and audit lines. */
    const finish = (end: MeterEnd): void => {
      const decisions = safety?.decisions() ?? [];
      const filters = decisions.length ? decisionCounts(decisions) : undefined;
      const metered = usage ? usage.finish({ ...end, ...(filters ? { filters } : {}) }) : Promise.resolve(undefined);
      safety?.finish({ record: metered.then((m) => m?.record), outcome: end.outcome, route: known() ? embed!.model : 'unknown' });
    };
    let embed: EmbedRequest | undefined;
    const known = () => embed !== undefined && deps.dispatcher().hasRoute(embed.model);
    const count = (provider: string, outcome: string) => deps.metrics.requests.inc({ route: known() ? embed!.model : 'unknown', provider, outcome, stream: 'false' });
    try {
      const parsed = parseEmbeddingRequest(req.body, { requestId, receivedAt, apiKeyId: identity.keyId }, { maxDepth: deps.maxDepth?.() });
      embed = parsed.request;
      const dispatcher = deps.dispatcher();
      const route = deps.routes(embed.model);
      const shape = meteredShape(embed);
      usage?.request(shape, dispatcher.hasRoute(embed.model));
      if (route && !mayUseRoute(identity, embed.model)) {
        count('none', 'model_not_allowed');
        log.info({ status: 403, kind: 'model_not_allowed', key: identity.keyId }, 'request rejected');
        finish({ outcome: 'model_not_allowed' });
        sendError(res, routeNotAllowed(embed.model));
        return;
      }
      // A chat route, like an unknown one, goes on to the dispatcher, which refuses it.
      if (route?.kind === 'embeddings' && usage) await usage.admit(shape, route);
      // Input filters over the text inputs: block (400), mask and redact (rewritten before they
      // leave), privacy routing (local/trusted targets only).
      safety = deps.safety?.begin({ requestId, identity, route });
      if (safety?.policy) filterEmbeddingInputs(embed, safety);
      // The cache, after the filters (the key holds what would be sent).
      const cached = route?.kind === 'embeddings' ? embeddingCache(deps.cache?.(), route.cache, embed, identity, req.headers['cache-control']) : undefined;
      const hit = cached ? await cached.lookup() : undefined;
      if (hit) {
        const used = embedUsage(embed, hit.response);
        const body = toWireEmbeddingResponse(hit.response, used, parsed.encoding);
        res.setHeader('x-router-provider', 'cache');
        res.setHeader('x-router-model', hit.response.model);
        res.setHeader('x-router-cache', 'hit');
        res.setHeader('x-router-cache-age-ms', String(Math.round(hit.ageMs)));
        res.setHeader(COST_HEADER, '0');
        for (const [k, v] of Object.entries(usage?.headers() ?? {})) res.setHeader(k, v);
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        count('cache', 'cache_hit');
        // Paid for once, by the request that produced it.
        finish({ outcome: 'cache_hit' });
        return;
      }
      const pending = dispatcher.embed(embed, signal);
      const served = await (flight ? flight.until(pending) : pending);
      const r = served.response;
      cached?.store(r, served.target);
      if (cached) res.setHeader('x-router-cache', cached.status);
      const used = embedUsage(embed, r);
      const body = toWireEmbeddingResponse(r, used, parsed.encoding);
      const totalMs = performance.now() - receivedAt;
      const overheadMs = Math.max(0, totalMs - served.upstreamMs);
      routerHeaders(res, served, overheadMs);
      for (const [k, v] of Object.entries(usage?.headers() ?? {})) res.setHeader(k, v);
      const metered = { promptTokens: used.promptTokens, completionTokens: 0, totalTokens: used.totalTokens };
      // Priced by the target that served; no header when its price is unknown (never a made-up 0).
      const cost = usage ? usage.costOf(served.target, metered) : null;
      if (cost !== null) res.setHeader(COST_HEADER, formatUsd(cost));
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      const labels = { route: embed.model, provider: served.target.provider };
      count(served.target.provider, 'ok');
      deps.metrics.latency.observe({ ...labels, stream: 'false' }, totalMs / 1000);
      deps.metrics.overhead.observe({ route: embed.model, stream: 'false' }, overheadMs / 1000);
      deps.metrics.tokens.inc({ ...labels, type: 'prompt', traffic: 'live' }, used.promptTokens);
      finish({ outcome: 'ok', target: served.target, usage: metered, attempts: served.attempts });
      log.info({ route: embed.model, provider: served.target.provider, model: served.target.model, inputs: embed.inputs.length, ms: Math.round(totalMs), attempts: served.attempts.length }, 'embedded');
    } catch (err) {
      const attempts = err instanceof RouteError ? err.attempts : undefined;
      if (flight?.stopped) {
        // The shutdown drain ran out before this request was answered.
        client.abort(flight.reason);
        finish({ outcome: 'shutdown', attempts });
        count('none', 'shutdown');
        if (!res.headersSent && !res.destroyed) sendError(res, shuttingDownError(), undefined, usage);
        return;
      }
      const e = toWireError(err);
      const kind = err instanceof RouteError ? (err.last?.kind ?? err.reason) : isProviderError(err) ? err.kind : e.body.error.code;
      const outcome = err instanceof LimitRefusal ? (err.code === 'insufficient_quota' ? 'insufficient_quota' : 'rate_limited') : String(kind);
      finish({ outcome, attempts, ...(err instanceof LimitRefusal ? { limitKind: err.kind } : {}) });
      count('none', outcome);
      if (e.status >= 500 && e.status !== 499) log.warn({ status: e.status, kind, attempts, detail: err instanceof RouteError ? (err.last?.detail ?? err.last?.message) : isProviderError(err) ? (err.detail ?? err.message) : (err as Error)?.message }, 'embeddings request failed');
      else log.info({ status: e.status, kind, ...(err instanceof LimitRefusal ? { key: identity.keyId, limit: err.kind } : {}) }, 'request rejected');
      if (e.status === 499 || res.headersSent) return;
      sendError(res, e, attempts, usage);
    } finally {
      client.dispose();
      flight?.done();
    }
  };
}
