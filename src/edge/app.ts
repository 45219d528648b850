import express, { type ErrorRequestHandler, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { parseByteSize } from '../config/schema.js';
import type { RouteConfig } from '../config/schema.js';
import { mayUseRoute } from '../identity/authenticator.js';
import type { Metrics } from '../observability/metrics.js';
import type { RequestMeter } from '../policies/request-meter.js';
import type { SafetyRuntime } from '../safety/safety-runtime.js';
import type { FeatureRuntime } from '../runtime/feature-runtime.js';
import { createSessionsRouter } from '../sessions/sessions-router.js';
import { createJobsRouter, createJobSubmitHandler, wantsAsync } from '../jobs/index.js';
import { runInternally } from './internal-request.js';
import { parseChatRequest } from '../wire/parse-chat-request.js';
import { mountResponses } from './responses-handler.js';
import { mountCompletions } from './completions-handler.js';
import { mountEmbeddings } from './embeddings-handler.js';
import type { Identity } from '../identity/types.js';
import type { Tracing } from '../observability/tracing.js';
import type { Runtime } from '../runtime/runtime.js';
import { keyMatcher, requireAdminKey } from './auth.js';
import { createChatHandler } from './chat-handler.js';
import { createFastLane, type FastLane } from './fast-lane.js';
import { clientAuth, identityOf, type ClientAuthDeps } from './client-auth.js';
import { bodyPending, closeAfterAnswer } from './connection.js';
import { invalidJsonBody, requestIdOf, requestTooLarge, wireError, type WireError } from './http-errors.js';
import type { InflightRegistry } from './inflight.js';

export interface AppDeps {
  runtime: Runtime;
  metrics: Metrics;
  logger: Logger;
  /** Extra routers mounted under /admin (failover controls). */
  admin?: express.Router;
  /**
   * `main`: the apps' listener. `admin`: the operator listener (`server.adminListen`), which
   * serves /healthz, the detailed /readyz, /metrics and /admin, and nothing else.
   */
  role?: 'main' | 'admin';
  /** An operator listener is running: the main listener then 404s /metrics and /admin. */
  operatorListener?: boolean;
  /** On the operator listener: /admin needs no key (it listens on loopback). */
  adminOpen?: boolean;
  /** The server is draining (shutting down): /readyz answers 503. */
  draining?: () => boolean;
  /** Chat requests in flight, for the shutdown drain. */
  inflight?: InflightRegistry;
  /**
   * Client auth of /v1 (legacy keys, virtual keys, JWT; anonymous when none is configured).
   * Absent: only the legacy `auth.keys` are checked.
   */
  clientAuth?: ClientAuthDeps;
  /** Limits, cost and usage records of chat requests. */
  meter?: RequestMeter;
  /** Content safety and the audit log (absent: none). */
  safety?: SafetyRuntime;
  /** Cache, sessions, jobs, stream buffers (absent: none). */
  features?: FeatureRuntime;
  /** Who a background job runs as, looked up again when it runs (a key may have been revoked since). */
  jobIdentity?: (owner: string, team: string | undefined) => Promise<Identity | undefined>;
  /** OpenTelemetry traces (undefined when off). */
  tracing?: () => Tracing | undefined;
  /** The operator's dashboard (src/cockpit), mounted wherever /admin is served; it does its own auth. */
  dashboard?: express.Router;
}

const requestContext: RequestHandler = (req, res, next) => {
  res.locals.receivedAt = performance.now();
  const id = requestIdOf(req.headers['x-request-id']);
  res.locals.requestId = id;
  res.setHeader('x-request-id', id);
  next();
};

const send = (res: Response, e: WireError) => {
  for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
  res.status(e.status).json(e.body);
};

/** The express app of one listener, and (main listener) the fast lane front.ts puts before it. */
export type RouterApp = express.Express & { fastLane?: FastLane };

/** Builds the HTTP app of one listener. It does not listen: server.ts does. */
export function createApp(deps: AppDeps): RouterApp {
  const { runtime, metrics, logger } = deps;
  const role = deps.role ?? 'main';
  const draining = deps.draining ?? (() => false);
  const app: RouterApp = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', runtime.config().server.trustProxy);
  app.use(requestContext);

  const tooLarge = () => requestTooLarge(runtime.config().server.bodyLimit);
  const unknown: RequestHandler = (req, res) => {
    // A body still arriving for a path that does not exist is not worth reading.
    if (bodyPending(req)) closeAfterAnswer(req, res);
    send(res, wireError(404, `Unknown request URL: ${req.method} ${req.path}.`, 'invalid_request_error', null, 'unknown_url'));
  };

  // Express would answer any other OPTIONS itself, in text ("Allow: POST"); CORS preflights
  // never get here (the front answers them), so an OPTIONS is an unknown URL like any other.
  app.options('/{*any}', unknown);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Readiness. The short answer (no key) says only ready or not: provider ids, the variables
  // they miss and route names are for operators (admin key, or the operator listener).
  const isAdmin = keyMatcher(() => runtime.config().auth.adminKeys);
  const detailsHere = role === 'admin' ? () => true : deps.operatorListener ? () => false : (headers: Parameters<typeof isAdmin>[0]) => isAdmin(headers) !== undefined;
  app.get('/readyz', (req, res) => {
    const usable = [...runtime.providers().keys()];
    const ready = usable.length > 0 && !draining();
    res.setHeader('cache-control', 'no-store');
    if (!detailsHere(req.headers)) return void res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready' });
    const disabled = Object.fromEntries(runtime.disabled());
    const status = draining() ? 'shutting_down' : ready ? 'ready' : 'no_usable_provider';
    res.status(ready ? 200 : 503).json({ status, providers: usable, disabled, routes: runtime.dispatcher().routeNames() });
  });

  const metricsHandler: RequestHandler = async (_req, res) => {
    res.setHeader('content-type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  };
  const adminKey = (opts: Parameters<typeof requireAdminKey>[1]) => requireAdminKey(() => runtime.config().auth.adminKeys, opts);

  if (role === 'admin') {
    // The operator listener: meant for a private address (Prometheus scrapes it without a key).
    app.get('/metrics', metricsHandler);
    if (deps.admin) app.use('/admin', adminKey({ open: () => deps.adminOpen === true }), express.json({ limit: '64kb' }), deps.admin);
    if (deps.dashboard) app.use('/dashboard', deps.dashboard);
  } else if (!deps.operatorListener) {
    app.get('/metrics', adminKey({ disabledMessage: 'Metrics need an admin key on this listener: set auth.adminKeys (and send it as "Authorization: Bearer <key>"), or serve them on server.adminListen.' }), metricsHandler);
    if (deps.admin) app.use('/admin', adminKey({}), express.json({ limit: '64kb' }), deps.admin);
    if (deps.dashboard) app.use('/dashboard', deps.dashboard);
  }

  if (role === 'main') {
    // Body limit follows the live config: one parser per limit value. A body over the limit is
    // refused as soon as that is known (its declared length, or the bytes counted so far), and
    // the connection closed: the parser alone would read the rest of it first, however slowly
    // it comes.
    const parsers = new Map<string, RequestHandler>();
    const jsonBody: RequestHandler = (req, res, next) => {
      const limit = runtime.config().server.bodyLimit;
      const max = parseByteSize(limit);
      const refuse = () => {
        closeAfterAnswer(req, res);
        send(res, tooLarge());
      };
      if (Number(req.headers['content-length']) > max) return refuse();
      if (req.headers['content-length'] === undefined) {
        let seen = 0;
        const count = (chunk: Buffer) => {
          seen += chunk.length;
          if (seen <= max) return;
          req.off('data', count);
          if (!res.headersSent) refuse();
        };
        req.on('data', count);
        req.once('end', () => req.off('data', count));
      }
      let parser = parsers.get(limit);
      if (!parser) parsers.set(limit, (parser = express.json({ limit, type: () => true })));
      parser(req, res, next);
    };

    const v1 = express.Router();
    if (!deps.clientAuth) throw new Error('createApp: the main listener needs clientAuth');
    v1.use(clientAuth(deps.clientAuth));
    const routeOf = (name: string): RouteConfig | undefined => {
      const routes = runtime.config().routes;
      return Object.hasOwn(routes, name) ? routes[name] : undefined;
    };
    const features = deps.features;
    if (features) {
      v1.use(createSessionsRouter({ store: features.sessions, identity: (res) => identityOf(res.locals), logger }));
      // Reconnect to a resumable stream (Last-Event-ID or ?after=).
      v1.get('/chat/completions/streams/:id', (req, res, next) => {
        const handler = features.resumable()?.resumeHandler();
        if (handler) return handler(req, res, next);
        res.status(404).json({ error: { message: 'Resumable streams are not available.', type: 'invalid_request_error', param: 'id', code: 'stream_not_found' } });
      });
    }
    const chatDeps = { dispatcher: runtime.dispatcher, metrics, logger, audit: () => runtime.config().logging.audit, maxDepth: () => runtime.config().server.limits.maxDepth, route: routeOf, meter: deps.meter, safety: deps.safety, features: deps.features, ...(deps.tracing ? { tracing: deps.tracing } : {}) };
    const chat = createChatHandler({ ...chatDeps, inflight: deps.inflight });
    // POST /v1/chat/completions without express (the same handler, auth and body rules).
    app.fastLane = createFastLane({ clientAuth: deps.clientAuth, bodyLimit: () => runtime.config().server.bodyLimit, chat, logger });
    if (features) {
      // Jobs run through the same chat path as any request (limits, filters, cache, routing), without a socket.
      const jobChat = createChatHandler(chatDeps);
      features.setJobExecutor(async (job, signal, progress) => {
        const identity = await (deps.jobIdentity?.(job.owner, job.team) ?? Promise.resolve<Identity>({ kind: 'anonymous', keyId: job.owner }));
        if (!identity) return { status: 401, body: { error: { message: 'The key that submitted this job is no longer valid.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } } };
        const answer = await runInternally(jobChat, job.request, identity, signal, `job-${job.id}`);
        const done = (answer.body as { usage?: { completion_tokens?: unknown } } | null)?.usage?.completion_tokens;
        if (typeof done === 'number') progress(done);
        return answer;
      });
      const jobsOpts = {
        runner: features.jobs,
        logger,
        bodyLimit: runtime.config().server.bodyLimit,
        // A job's body is checked as a chat request when it is submitted: a bad one gets its 400 now, not as a failed job.
        validate: (body: Record<string, unknown>) => {
          parseChatRequest(body, { requestId: 'job-submit', receivedAt: performance.now() }, { maxDepth: runtime.config().server.limits.maxDepth });
        },
      };
      v1.use(createJobsRouter(jobsOpts));
      const submit = createJobSubmitHandler(jobsOpts);
      v1.post('/chat/completions', jsonBody, (req, res, next) => (wantsAsync(req.headers) ? submit(req, res, next) : chat(req, res)));
    } else {
      v1.post('/chat/completions', jsonBody, chat);
    }
    // The Responses API and legacy completions: adapters over the same chat path (every policy applies).
    const maxDepth = () => runtime.config().server.limits.maxDepth;
    mountResponses(v1, { chat, sessions: () => deps.features?.sessions(), logger, jsonBody, maxDepth });
    mountCompletions(v1, { chat, logger, jsonBody, maxDepth });
    mountEmbeddings(v1, { dispatcher: runtime.dispatcher, routes: routeOf, meter: deps.meter, safety: deps.safety, cache: () => deps.features?.cache.cache(), metrics, logger, maxDepth, inflight: deps.inflight, jsonBody });
    const created = Math.floor(Date.now() / 1000);
    const modelObject = (id: string) => ({ id, object: 'model', created, owned_by: 'llm-router' });
    // Only the routes this caller may use: a key limited to some routes sees those.
    v1.get('/models', (_req, res) => {
      const identity = identityOf(res.locals);
      res.json({ object: 'list', data: runtime.dispatcher().routeNames().filter((r) => mayUseRoute(identity, r)).map(modelObject) });
    });
    v1.get('/models/:model', (req, res) => {
      const id = req.params.model;
      if (!runtime.dispatcher().hasRoute(id) || !mayUseRoute(identityOf(res.locals), id)) {
        const e = wireError(404, `The model '${id}' does not exist or you do not have access to it.`, 'invalid_request_error', 'model', 'model_not_found');
        res.status(e.status).json(e.body);
        return;
      }
      res.json(modelObject(id));
    });
    app.use('/v1', v1);
  }

  app.use(unknown);

  const onError: ErrorRequestHandler = (err: { type?: string; status?: number; limit?: number; message?: string }, req, res, _next) => {
    const e =
      err.type === 'entity.too.large'
        ? tooLarge()
        : err.type === 'entity.parse.failed'
          ? invalidJsonBody()
          : err.status && err.status >= 400 && err.status < 500
            ? wireError(err.status, err.message ?? 'Bad request.', 'invalid_request_error', null, err.type ?? null)
            : wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error');
    if (e.status === 500) logger.error({ err: err.message, requestId: res.locals.requestId }, 'unhandled error');
    if (res.headersSent) return void res.end();
    // Refused before its body was read (413, or a body cut short): close rather than read on.
    if (e.status === 413 || bodyPending(req)) closeAfterAnswer(req, res);
    send(res, e);
  };
  app.use(onError);
  return app;
}
