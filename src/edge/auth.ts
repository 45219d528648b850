import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler } from 'express';
import { closeAfterAnswer } from './connection.js';
import { wireError } from './http-errors.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time membership test: hashing first makes every comparison the same length. */
export function createKeyChecker(keys: readonly string[]): (candidate: string | undefined) => string | undefined {
  const digests = keys.map((k, i) => ({ id: `key-${i}`, d: digest(k) }));
  return (candidate) => {
    if (candidate === undefined) return undefined;
    const c = digest(candidate);
    let found: string | undefined;
    for (const k of digests) if (timingSafeEqual(k.d, c)) found ??= k.id;
    return found;
  };
}

/** A non-empty key with surrounding blanks removed, or undefined: an empty value is never a key. */
const nonEmpty = (v: string | undefined): string | undefined => {
  const t = v?.trim();
  return t ? t : undefined;
};

/** The presented key: `Authorization: Bearer …`, or Azure-style `api-key`. Empty or blank is none. */
export function presentedKey(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer(?:\s+(.*))?$/i.exec(auth.trim());
    const key = nonEmpty(m?.[1]);
    if (key) return key;
  }
  const apiKey = headers['api-key'];
  return typeof apiKey === 'string' ? nonEmpty(apiKey) : undefined;
}

/** Matches presented keys against a live key list (re-hashed only when the list changes). */
export function keyMatcher(keys: () => readonly string[]): (headers: IncomingHttpHeaders) => string | undefined {
  let cached: { keys: readonly string[]; check: ReturnType<typeof createKeyChecker> } | undefined;
  return (headers) => {
    const current = keys();
    if (!current.length) return undefined;
    if (cached?.keys !== current) cached = { keys: current, check: createKeyChecker(current) };
    return cached.check(presentedKey(headers));
  };
}

export interface RequireKeyOptions {
  /** No key needed at all (e.g. /admin on a loopback operator listener). */
  open?: () => boolean;
  /** The 401 message when no keys of this kind are configured. */
  disabledMessage?: string;
}

/**
 * Requires one of the admin `keys` (client calls go through client-auth.ts); sets
 * res.locals.apiKeyId. A refused request is answered 401 and its connection closed once the
 * answer is out, without waiting for (or reading) the rest of its body.
 */
export function requireAdminKey(keys: () => readonly string[], opts: RequireKeyOptions = {}): RequestHandler {
  const match = keyMatcher(keys);
  return (req, res, next) => {
    const current = keys();
    if (opts.open?.()) return next();
    const id = match(req.headers);
    if (!id) {
      const e = wireError(
        401,
        !current.length
          ? (opts.disabledMessage ?? 'Admin endpoints are disabled: no auth.adminKeys configured.')
          : presentedKey(req.headers) === undefined
            ? 'You did not provide an API key. Send it as "Authorization: Bearer <key>".'
            : 'Incorrect API key provided.',
        'invalid_request_error',
        null,
        'invalid_api_key',
      );
      closeAfterAnswer(req, res);
      res.status(e.status).json(e.body);
      return;
    }
    res.locals.apiKeyId = id;
    next();
  };
}
