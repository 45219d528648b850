/**
 * Who is calling /v1: the presented credential (`Authorization: Bearer …` or `api-key`) made
 * an identity by the authenticator (legacy `auth.keys`, virtual keys, JWT), put in
 * `res.locals.identity` (and its id in `res.locals.apiKeyId`). A refused credential is
 * answered 401 (503 when the key store or the identity provider's keys are unreachable) and
 * its connection closed without reading the rest of the body.
 *
 * With no client auth configured at all (loopback-only mode), every caller passes: as the key
 * it presented when that is a key the router knows (so its limits and usage apply), else as
 * the anonymous identity.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Authenticator } from '../identity/authenticator.js';
import { identityErrorToWire } from '../identity/identity-errors.js';
import { isIdentityError, type Identity, type IdentityError } from '../identity/types.js';
import { presentedKey } from './auth.js';
import { closeAfterAnswer, sendWireError as send } from './connection.js';
import { wireError } from './http-errors.js';

/** The caller of an open router (no client auth configured). */
export const ANONYMOUS: Readonly<Identity> = Object.freeze({ kind: 'anonymous', keyId: 'anonymous' });

export interface ClientAuthDeps {
  /** Undefined until the state backend is open (the router is still starting). */
  authenticator: () => Authenticator | undefined;
  /** No client auth configured: /v1 is open. */
  open: () => boolean;
}

/** The identity of a request that passed the client-auth middleware (anonymous when none ran). */
export function identityOf(locals: Record<string, unknown>): Identity {
  return (locals.identity as Identity | undefined) ?? ANONYMOUS;
}

/**
 * Checks the caller of one /v1 request on node's own request and response (the fast lane and
 * the express middleware alike): `accept` gets its identity, or the refusal is answered here
 * (and the connection closed); `fail` gets an authenticator that threw.
 */
export function authenticateClient(deps: ClientAuthDeps, req: IncomingMessage, res: ServerResponse, accept: (identity: Identity) => void, fail: (err: unknown) => void): void {
  const authenticator = deps.authenticator();
  if (!authenticator) {
    closeAfterAnswer(req, res);
    return send(res, { ...wireError(503, 'The router is starting; retry shortly.', 'service_unavailable', null, 'starting'), headers: { 'retry-after': '1' } });
  }
  const presented = presentedKey(req.headers);
  const open = deps.open();
  if (open && presented === undefined) return accept(ANONYMOUS);
  let result: Identity | IdentityError | PromiseLike<Identity | IdentityError>;
  try {
    result = authenticator.check ? authenticator.check(presented) : authenticator.authenticate(presented);
  } catch (err) {
    return fail(err);
  }
  if (isPromiseLike(result)) {
    Promise.resolve(result)
      .then((r) => answer(r, open, req, res, accept), fail)
      // Whatever `accept` (the handler that follows) throws is answered, never an unhandled rejection.
      .catch(fail);
    return;
  }
  // Answered without I/O (a cached or legacy key, no credential): no promise, no closures.
  try {
    answer(result, open, req, res, accept);
  } catch (err) {
    fail(err);
  }
}

function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown }).then === 'function';
}

/** Passes the caller on, or answers the refusal (an open router lets a refused caller in as anonymous). */
function answer(result: Identity | IdentityError, open: boolean, req: IncomingMessage, res: ServerResponse, accept: (identity: Identity) => void): void {
  if (!isIdentityError(result)) return accept(result);
  if (open) return accept(ANONYMOUS);
  closeAfterAnswer(req, res);
  send(res, identityErrorToWire(result));
}

/** Records the identity where the handlers read it (`res.locals`). */
export function setIdentity(locals: Record<string, unknown>, identity: Identity): void {
  locals.identity = identity;
  locals.apiKeyId = identity.keyId;
}

export function clientAuth(deps: ClientAuthDeps): RequestHandler {
  return (req, res, next) =>
    authenticateClient(
      deps,
      req,
      res,
      (identity) => {
        setIdentity(res.locals, identity);
        next();
      },
      next,
    );
}
