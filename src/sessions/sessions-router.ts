/**
 * Conversation sessions, mounted by the app under /v1 after client auth:
 *
 *   POST   /sessions       create: 201 `{id, object: 'session', created_at, messages: []}`;
 *                          optional body `{ "id": "<your id>" }` (else the router makes `sess_…`)
 *   GET    /sessions/:id   the conversation (OpenAI chat message JSON), its size and times
 *   DELETE /sessions/:id   gone at once: `{id, object: 'session.deleted', deleted: true}`
 *
 * A session is its creator's (`identity.keyId`): any other caller gets 404 session_not_found,
 * exactly as for an id nobody uses. Times are Unix seconds, as in OpenAI's objects. Errors are
 * OpenAI's error JSON: 400 for a bad id or body, 409 for an id already in use, 503
 * state_unavailable while Redis is unreachable.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';

import { contentText, type ChatMessage } from '../core/chat-request.js';
import { wireError, type WireError } from '../edge/http-errors.js';
import type { Identity } from '../identity/types.js';
import { estimateTokens } from '../routing/token-count.js';
import { toWireMessages } from './session-codec.js';
import { sessionWireError } from './session-http-errors.js';
import { isValidSessionId, SESSION_ID_PATTERN, SessionNotFound, type SessionRecord, type SessionStore } from './session-types.js';

export interface SessionsRouterOptions {
  /** The store in force (a getter: a reload may replace it); undefined: sessions are off (404). */
  store: () => SessionStore | undefined;
  /** Who is calling (client auth has run): e.g. `(res) => identityOf(res.locals)`. */
  identity: (res: Response) => Identity;
  /** Where an unexpected failure is logged (the client gets a generic 500). */
  logger?: { error(obj: object, msg: string): void };
}

const createBodySchema = z.strictObject({
  id: z.string().regex(SESSION_ID_PATTERN, 'use 1 to 128 letters, digits, "_", ".", ":" or "-"').optional(),
});

const send = (res: Response, e: WireError) => {
  for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
  res.status(e.status).json(e.body);
};

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** An approximate token count of a conversation: its text and tool calls, estimated. */
export function approximateTokens(messages: readonly ChatMessage[]): number {
  let n = 0;
  for (const m of messages) {
    n += estimateTokens(contentText(m.content));
    if (m.role === 'assistant') for (const c of m.toolCalls ?? []) n += estimateTokens(c.function.name) + estimateTokens(c.function.arguments);
  }
  return n;
}

/** The JSON of GET /sessions/:id. */
export function sessionObject(s: SessionRecord): Record<string, unknown> {
  return {
    id: s.id,
    object: 'session',
    messages: toWireMessages(s.messages),
    message_count: s.messages.length,
    token_count: approximateTokens(s.messages),
    bytes: s.bytes,
    created_at: seconds(s.createdAt),
    updated_at: seconds(s.updatedAt),
  };
}

export function createSessionsRouter(opts: SessionsRouterOptions): express.Router {
  const router = express.Router();

  const fail = (res: Response, err: unknown, param?: string) => {
    const e = sessionWireError(err, param);
    if (e) return send(res, e);
    opts.logger?.error({ err: (err as Error)?.message }, 'session request failed');
    send(res, wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error'));
  };

  /** The store, or a 404 when sessions are off. */
  const storeOr404 = (res: Response): SessionStore | undefined => {
    const store = opts.store();
    if (!store) send(res, wireError(404, 'Sessions are not enabled on this router.', 'invalid_request_error', null, 'sessions_disabled'));
    return store;
  };

  /** The path id, or a 400 (checked before any store sees it). */
  const pathId = (req: Request, res: Response): string | undefined => {
    const id = req.params.id;
    if (isValidSessionId(id)) return id;
    send(res, wireError(400, 'Invalid session id: use 1 to 128 letters, digits, "_", ".", ":" or "-".', 'invalid_request_error', 'session_id', 'invalid_value'));
    return undefined;
  };

  router.post('/sessions', express.json({ limit: '16kb' }), async (req: Request, res: Response) => {
    const store = storeOr404(res);
    if (!store) return;
    const parsed = createBodySchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = issue.path.length ? issue.path.map(String).join('.') : null;
      const what = issue.code === 'unrecognized_keys' ? `Unrecognized field(s): ${issue.keys.join(', ')}.` : `Invalid value for '${param ?? 'body'}': ${issue.message}`;
      return send(res, wireError(400, what, 'invalid_request_error', param, 'invalid_value'));
    }
    try {
      const s = await store.create(opts.identity(res).keyId, parsed.data.id !== undefined ? { id: parsed.data.id } : {});
      res.setHeader('cache-control', 'no-store');
      res.status(201).json({ id: s.id, object: 'session', created_at: seconds(s.createdAt), messages: [] });
    } catch (err) {
      fail(res, err, 'id');
    }
  });

  router.get('/sessions/:id', async (req: Request, res: Response) => {
    const store = storeOr404(res);
    const id = store && pathId(req, res);
    if (!store || id === undefined) return;
    try {
      const s = await store.get(id, opts.identity(res).keyId);
      if (!s) return fail(res, new SessionNotFound(id));
      res.setHeader('cache-control', 'no-store');
      res.json(sessionObject(s));
    } catch (err) {
      fail(res, err);
    }
  });

  router.delete('/sessions/:id', async (req: Request, res: Response) => {
    const store = storeOr404(res);
    const id = store && pathId(req, res);
    if (!store || id === undefined) return;
    try {
      if (!(await store.delete(id, opts.identity(res).keyId))) return fail(res, new SessionNotFound(id));
      res.json({ id, object: 'session.deleted', deleted: true });
    } catch (err) {
      fail(res, err);
    }
  });

  // The body parser's refusals (bad JSON, too large) in OpenAI's shape, so the router stands on its own.
  router.use((err: { type?: string; status?: number }, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    if (err.type === 'entity.parse.failed') return send(res, wireError(400, 'We could not parse the JSON body of your request. The body must be valid JSON.', 'invalid_request_error', null, 'invalid_json'));
    if (err.type === 'entity.too.large') return send(res, wireError(413, 'The request body is too large.', 'invalid_request_error', null, 'request_too_large'));
    next(err);
  });

  return router;
}
