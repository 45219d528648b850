import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import type { Runtime } from '../runtime/runtime.js';
import { requireKey } from './auth.js';
import { createChatHandler } from './chat-handler.js';
import { wireError } from './http-errors.js';

export interface AppDeps {
  runtime: Runtime;
  metrics: Metrics;
  logger: Logger;
  /** Extra routers mounted under /admin (failover controls). */
  admin?: express.Router;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

const requestContext: RequestHandler = (req, res, next) => {
  res.locals.receivedAt = performance.now();
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  res.locals.requestId = id;
  res.setHeader('x-request-id', id);
  next();
};

/** Builds the HTTP app. It does not listen: main.ts does. */
export function createApp(deps: AppDeps): express.Express {
  const { runtime, metrics, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', runtime.config().server.trustProxy);
  app.use(requestContext);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const usable = [...runtime.providers().keys()];
    const disabled = Object.fromEntries(runtime.disabled());
    res.status(usable.length ? 200 : 503).json({ status: usable.length ? 'ready' : 'no_usable_provider', providers: usable, disabled, routes: runtime.dispatcher().routeNames() });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('content-type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  // Body limit follows the live config: one parser per limit value.
  const parsers = new Map<string, RequestHandler>();
  const jsonBody: RequestHandler = (req, res, next) => {
    const limit = runtime.config().server.bodyLimit;
    let parser = parsers.get(limit);
    if (!parser) parsers.set(limit, (parser = express.json({ limit, type: () => true })));
    parser(req, res, next);
  };

  const v1 = express.Router();
  v1.use(requireKey(() => runtime.config().auth.keys, 'client'));
  v1.post('/chat/completions', jsonBody, createChatHandler({ dispatcher: runtime.dispatcher, metrics, logger, audit: () => runtime.config().logging.audit }));
  const created = Math.floor(Date.now() / 1000);
  const modelObject = (id: string) => ({ id, object: 'model', created, owned_by: 'llm-router' });
  v1.get('/models', (_req, res) => {
    res.json({ object: 'list', data: runtime.dispatcher().routeNames().map(modelObject) });
  });
  v1.get('/models/:model', (req, res) => {
    const id = req.params.model;
    if (!runtime.dispatcher().routeNames().includes(id)) {
      const e = wireError(404, `The model '${id}' does not exist or you do not have access to it.`, 'invalid_request_error', 'model', 'model_not_found');
      res.status(e.status).json(e.body);
      return;
    }
    res.json(modelObject(id));
  });
  app.use('/v1', v1);
  if (deps.admin) app.use('/admin', requireKey(() => runtime.config().auth.adminKeys, 'admin'), express.json({ limit: '64kb' }), deps.admin);

  app.use((req, res) => {
    const e = wireError(404, `Unknown request URL: ${req.method} ${req.path}.`, 'invalid_request_error', null, 'unknown_url');
    res.status(e.status).json(e.body);
  });

  const onError: ErrorRequestHandler = (err: { type?: string; status?: number; limit?: number; message?: string }, _req, res, _next) => {
    const e =
      err.type === 'entity.too.large'
        ? wireError(413, `Request body too large: the limit is ${runtime.config().server.bodyLimit}.`, 'invalid_request_error', null, 'request_too_large')
        : err.type === 'entity.parse.failed'
          ? wireError(400, 'We could not parse the JSON body of your request. The body must be valid JSON.', 'invalid_request_error', null, 'invalid_json')
          : err.status && err.status >= 400 && err.status < 500
            ? wireError(err.status, err.message ?? 'Bad request.', 'invalid_request_error', null, err.type ?? null)
            : wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error');
    if (e.status === 500) logger.error({ err: err.message, requestId: res.locals.requestId }, 'unhandled error');
    if (res.headersSent) return void res.end();
    res.status(e.status).json(e.body);
  };
  app.use(onError);
  return app;
}
