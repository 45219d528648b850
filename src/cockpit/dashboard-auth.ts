import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { createKeyChecker } from '../edge/auth.js';
import { parseCookies, sessionCookie } from './cookies.js';
import type { LoginLimiter } from './login-limiter.js';
import { clientOf, fromSameOrigin, isLoopbackAddress, isLoopbackHost } from './request-checks.js';
import { sameSecret, type DashboardSession, type SessionStore } from './session-store.js';

export const SESSION_COOKIE = 'llmr_dashboard';
export const CSRF_HEADER = 'x-csrf-token';
/** Longest key taken from a login form (admin keys are far shorter). */
const MAX_KEY_LENGTH = 1024;

export interface DashboardAuthOptions {
  /** The admin keys in force (auth.adminKeys, read on every request: a reload applies at once). */
  adminKeys: () => readonly string[];
  /** The operator listener on loopback: a browser on this machine needs no key (see `openHere`). */
  open?: () => boolean;
  sessions: SessionStore;
  limiter: LoginLimiter;
  /** Cookie lifetime; the server-side session may end sooner (idle). */
  cookieMaxAgeSeconds: number;
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface DashboardAuth {
  /** POST /login: `key` in a JSON or form body. */
  login: RequestHandler;
  /** POST /logout: ends the session the cookie names (same-origin requests only; no CSRF token needed to sign out). */
  logout: RequestHandler;
  /** GET /api/session: the session's CSRF token, or 401 (starting a keyless session where that is allowed). */
  session: RequestHandler;
  /** A valid session (res.locals.dashboardSession) or 401. */
  requireSession: RequestHandler;
  /** The session's CSRF token in the `x-csrf-token` header, or 403. */
  requireCsrf: RequestHandler;
  /** Refuses requests from pages of other origins (403). */
  sameOriginOnly: RequestHandler;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

type ErrorCode = 'login_required' | 'invalid_api_key' | 'csrf_token_invalid' | 'cross_origin' | 'too_many_login_attempts' | 'dashboard_disabled';

const refuse = (res: Response, status: number, message: string, code: ErrorCode) =>
  void res.status(status).json({ error: { message, type: status === 429 ? 'rate_limit_error' : 'invalid_request_error', param: null, code } });

/** The session a request's cookie names, as set by requireSession. */
export const sessionOf = (res: Response): DashboardSession => res.locals.dashboardSession as DashboardSession;

/** Who did something, for logs and a drain's `by`: the admin key's position, or "loopback". */
export const principalName = (s: DashboardSession): string => (s.principal.via === 'key' ? `dashboard:${s.principal.keyId}` : 'dashboard:loopback');

/**
 * Login, sessions and CSRF of the dashboard. The browser holds only a random session token
 * (HttpOnly, SameSite=Strict, Path = the dashboard's mount path); the admin key is sent once,
 * in the body of the login POST, compared in constant time, and never stored (the session
 * keeps its SHA-256 so that removing the key from the config ends the session on its next
 * request). Actions also need the session's CSRF token in a header, which a page of another
 * origin cannot read. Failed logins are rate-limited per client address and overall.
 */
export function createDashboardAuth(o: DashboardAuthOptions): DashboardAuth {
  let checker: { keys: readonly string[]; check: ReturnType<typeof createKeyChecker>; digests: Buffer[] } | undefined;
  const keysNow = () => {
    const keys = o.adminKeys();
    if (checker?.keys !== keys) checker = { keys, check: createKeyChecker(keys), digests: keys.map(digest) };
    return checker;
  };
  const open = o.open ?? (() => false);
  /** Keyless here: the loopback operator listener, reached by its loopback name from a loopback address. */
  const openHere = (req: Request) => open() && isLoopbackHost(req.headers.host) && isLoopbackAddress(req.socket.remoteAddress);

  const stillValid = (s: DashboardSession, req: Request): boolean => {
    if (s.principal.via === 'loopback') return openHere(req);
    let found = false;
    for (const d of keysNow().digests) if (timingSafeEqual(d, s.principal.keyDigest)) found = true;
    return found;
  };

  const tokenOf = (req: Request) => parseCookies(req.headers.cookie).get(SESSION_COOKIE);
  const cookiePath = (req: Request) => req.baseUrl || '/';
  const setCookie = (req: Request, res: Response, token: string, maxAge: number) =>
    res.append('set-cookie', sessionCookie(SESSION_COOKIE, token, { path: cookiePath(req), maxAgeSeconds: maxAge, secure: req.secure }));

  const current = (req: Request): DashboardSession | undefined => {
    const token = tokenOf(req);
    const s = o.sessions.get(token);
    if (s && !stillValid(s, req)) {
      o.sessions.destroy(token);
      return undefined;
    }
    return s;
  };

  const describe = (s: DashboardSession) => ({
    csrf: s.csrf,
    via: s.principal.via,
    ...(s.principal.via === 'key' ? { keyId: s.principal.keyId } : {}),
    createdAt: new Date(s.createdAt).toISOString(),
  });

  const sameOriginOnly: RequestHandler = (req, res, next) => {
    if (!fromSameOrigin(req)) return refuse(res, 403, 'The dashboard only answers its own pages.', 'cross_origin');
    next();
  };

  const requireSession: RequestHandler = (req, res, next) => {
    const s = current(req);
    if (!s) return refuse(res, 401, 'Log in to the dashboard first.', 'login_required');
    res.locals.dashboardSession = s;
    next();
  };

  const requireCsrf: RequestHandler = (req, res, next) => {
    const given = req.headers[CSRF_HEADER];
    if (typeof given !== 'string' || !sameSecret(given, sessionOf(res).csrf)) return refuse(res, 403, `Missing or wrong ${CSRF_HEADER} header.`, 'csrf_token_invalid');
    next();
  };

  const login: RequestHandler = (req, res) => {
    const form = !req.is('application/json');
    const answer = (status: number, message: string, code: ErrorCode, extra?: () => void) => {
      extra?.();
      if (form) return void res.redirect(303, `${cookiePath(req).replace(/\/$/, '')}/?login=${code}`);
      refuse(res, status, message, code);
    };
    if (!fromSameOrigin(req)) return refuse(res, 403, 'The dashboard only answers its own pages.', 'cross_origin');
    const keys = keysNow();
    if (!keys.keys.length) return answer(401, 'The dashboard is disabled: no auth.adminKeys configured.', 'dashboard_disabled');
    const client = clientOf(req);
    const allowed = o.limiter.check(client);
    if (!allowed.ok) {
      const seconds = Math.max(1, Math.ceil(allowed.retryAfterMs / 1000));
      return answer(429, `Too many failed logins; retry in ${seconds} s.`, 'too_many_login_attempts', () => res.setHeader('retry-after', String(seconds)));
    }
    const raw: unknown = (req.body as { key?: unknown } | undefined)?.key;
    const key = typeof raw === 'string' && raw.length <= MAX_KEY_LENGTH ? raw.trim() : undefined;
    const keyId = key ? keys.check(key) : undefined;
    if (!key || !keyId) {
      o.limiter.failed(client);
      o.logger?.warn({ client }, 'dashboard login refused');
      return answer(401, 'Incorrect admin key.', 'invalid_api_key');
    }
    o.limiter.succeeded(client);
    // A session token the browser may already hold is replaced (no fixation of an old one).
    o.sessions.destroy(tokenOf(req));
    const { token, session } = o.sessions.create({ via: 'key', keyId, keyDigest: digest(key) });
    setCookie(req, res, token, o.cookieMaxAgeSeconds);
    res.setHeader('cache-control', 'no-store');
    o.logger?.info({ client, keyId }, 'dashboard login');
    if (form) return void res.redirect(303, `${cookiePath(req).replace(/\/$/, '')}/`);
    res.json(describe(session));
  };

  const logout: RequestHandler = (req, res) => {
    o.sessions.destroy(tokenOf(req));
    setCookie(req, res, '', 0);
    res.status(204).end();
  };

  const session: RequestHandler = (req, res) => {
    res.setHeader('cache-control', 'no-store');
    let s = current(req);
    if (!s && openHere(req)) {
      const made = o.sessions.create({ via: 'loopback' });
      setCookie(req, res, made.token, o.cookieMaxAgeSeconds);
      s = made.session;
    }
    if (!s) {
      const disabled = !keysNow().keys.length;
      return void res.status(401).json({
        error: { message: disabled ? 'The dashboard is disabled: no auth.adminKeys configured.' : 'Log in to the dashboard first.', type: 'invalid_request_error', param: null, code: disabled ? 'dashboard_disabled' : 'login_required' },
      });
    }
    res.json(describe(s));
  };

  return { login, logout, session, requireSession, requireCsrf, sameOriginOnly };
}
