import express, { type NextFunction, type Request, type Response } from 'express';
import type { z } from 'zod';
import { StateUnavailableError } from '../state/types.js';
import { createKeyBodySchema, firstIssue, patchKeyBodySchema, rotateKeyBodySchema } from './admin-keys-schema.js';
import { KeyServiceError, type KeyService } from './key-service.js';

/** Hooks the app gives the router (both optional). */
export interface AdminKeysRouterOptions {
  /** Usage and spend of a key, added as `usage` to GET /keys/:id (the lead's accounting). */
  usageOf?: (id: string) => Promise<unknown>;
  /** Route names in force: keys may then only list these (or "*"). Absent: any name is taken. */
  routeNames?: () => readonly string[];
}

type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

const send = (res: Response, status: number, message: string, param: string | null, code: string, type = 'invalid_request_error') =>
  void res.status(status).json({ error: { message, type, param, code } } satisfies ErrorBody);

const STATUS: Record<KeyServiceError['code'], { status: number; code: string }> = {
  not_found: { status: 404, code: 'key_not_found' },
  read_only: { status: 409, code: 'key_read_only' },
  revoked: { status: 409, code: 'key_revoked' },
  invalid: { status: 400, code: 'invalid_value' },
};

/** Every refusal in OpenAI's error shape; a store outage is a 503, anything else a generic 500 (internals stay in the log). */
function sendError(res: Response, err: unknown): void {
  if (err instanceof KeyServiceError) {
    const s = STATUS[err.code];
    return send(res, s.status, err.message, err.param, s.code);
  }
  if (err instanceof StateUnavailableError) return send(res, 503, 'The key store is unavailable; retry shortly.', null, 'state_unavailable', 'service_unavailable');
  send(res, 500, 'The router failed to process the request.', null, 'internal_error', 'server_error');
}

/** Parses a body against a schema, or answers 400 naming the first bad field. */
function parseBody<S extends z.ZodType>(schema: S, req: Request, res: Response): z.infer<S> | undefined {
  const body: unknown = req.body ?? {};
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const { param, message } = firstIssue(parsed.error);
  send(res, 400, message, param, 'invalid_value');
  return undefined;
}

/**
 * Virtual-key management, mounted by the app under /admin behind the admin key:
 *
 *   POST   /keys              create: 201 with the key and its `secret` (shown this once only)
 *   GET    /keys              list (prefixes only: never a secret or a hash)
 *   GET    /keys/:id          one key (+ `usage` when the router tracks it)
 *   PATCH  /keys/:id          name, team, routes, limits, budget, metadata, expiresAt (null clears)
 *   POST   /keys/:id/rotate   new secret; old one valid `graceSeconds` more (default 3600, 0 = now)
 *   DELETE /keys/:id          revoke at once (200 with the revoked key)
 *
 * Keys declared in the config answer 409 to changes. Unknown ids are 404; ids only ever reach
 * the store as lookups of that exact id (see KeyService), so `__proto__` is just unknown.
 */
export function createAdminKeysRouter(service: KeyService, opts: AdminKeysRouterOptions = {}): express.Router {
  const router = express.Router();
  // Skipped when the app has parsed the body already; here so the router also works on its own.
  router.use(express.json({ limit: '64kb' }));

  const checkRoutes = (routes: readonly string[] | null | undefined, res: Response): boolean => {
    if (!routes || !opts.routeNames) return true;
    const known = new Set(opts.routeNames());
    const bad = routes.findIndex((r) => r !== '*' && !known.has(r));
    if (bad === -1) return true;
    send(res, 400, `routes[${bad}]: no route named '${String(routes[bad]).slice(0, 200)}' is configured.`, `routes[${bad}]`, 'invalid_value');
    return false;
  };

  router.post('/keys', async (req, res) => {
    const body = parseBody(createKeyBodySchema, req, res);
    if (!body || !checkRoutes(body.routes, res)) return;
    try {
      const { key, secret } = await service.create(body);
      res.status(201).json({ ...key, secret });
    } catch (err) {
      sendError(res, err);
    }
  });

  router.get('/keys', async (_req, res) => {
    try {
      res.json({ object: 'list', data: await service.list() });
    } catch (err) {
      sendError(res, err);
    }
  });

  router.get('/keys/:id', async (req, res) => {
    try {
      const key = await service.get(req.params.id);
      if (!key) return send(res, 404, `No key with id '${req.params.id.slice(0, 100)}'.`, 'id', 'key_not_found');
      res.json(opts.usageOf ? { ...key, usage: await opts.usageOf(key.id) } : key);
    } catch (err) {
      sendError(res, err);
    }
  });

  router.patch('/keys/:id', async (req, res) => {
    const body = parseBody(patchKeyBodySchema, req, res);
    if (!body || !checkRoutes(body.routes, res)) return;
    try {
      res.json(await service.patch(req.params.id, body));
    } catch (err) {
      sendError(res, err);
    }
  });

  router.post('/keys/:id/rotate', async (req, res) => {
    const body = parseBody(rotateKeyBodySchema, req, res);
    if (!body) return;
    try {
      const { key, secret } = await service.rotate(req.params.id, body.graceSeconds);
      res.json({ ...key, secret });
    } catch (err) {
      sendError(res, err);
    }
  });

  router.delete('/keys/:id', async (req, res) => {
    try {
      res.json(await service.revoke(req.params.id));
    } catch (err) {
      sendError(res, err);
    }
  });

  // Body-parser failures of the parser above, in the same error shape as everything else.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const type = (err as { type?: unknown } | null)?.type;
    if (type === 'entity.parse.failed') return send(res, 400, 'The request body is not valid JSON.', null, 'invalid_json');
    if (type === 'entity.too.large') return send(res, 413, 'The request body is too large.', null, 'body_too_large');
    next(err);
  });

  return router;
}
