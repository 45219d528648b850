import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
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

/** The presented key: `Authorization: Bearer …`, or Azure-style `api-key`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1];
  }
  const apiKey = headers['api-key'];
  return typeof apiKey === 'string' ? apiKey : undefined;
}

/** Requires one of `keys` when any are configured; sets res.locals.apiKeyId. */
export function requireKey(keys: () => readonly string[], kind: 'client' | 'admin'): RequestHandler {
  let cached: { keys: readonly string[]; check: ReturnType<typeof createKeyChecker> } | undefined;
  return (req, res, next) => {
    const current = keys();
    if (!current.length && kind === 'client') return next();
    if (cached?.keys !== current) cached = { keys: current, check: createKeyChecker(current) };
    const id = cached.check(presentedKey(req.headers));
    if (!id) {
      const key = presentedKey(req.headers);
      const e = wireError(
        401,
        !current.length
          ? 'Admin endpoints are disabled: no auth.adminKeys configured.'
          : key === undefined
            ? 'You did not provide an API key. Send it as "Authorization: Bearer <key>".'
            : 'Incorrect API key provided.',
        'invalid_request_error',
        null,
        'invalid_api_key',
      );
      res.status(e.status).json(e.body);
      return;
    }
    res.locals.apiKeyId = id;
    next();
  };
}
