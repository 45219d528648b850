import { createHash, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';

/** Who a dashboard session belongs to. */
export type SessionPrincipal =
  /** Logged in with an admin key: `keyId` is its position (`key-0`), `keyDigest` its SHA-256 (so a key removed from the config ends its sessions). */
  | { via: 'key'; keyId: string; keyDigest: Buffer }
  /** The operator listener on loopback, opened without a key (see dashboard-auth.ts). */
  | { via: 'loopback' };

export interface DashboardSession {
  readonly principal: SessionPrincipal;
  /** Sent back in the `x-csrf-token` header of every action; never in a cookie. */
  readonly csrf: string;
  readonly createdAt: number;
  lastSeen: number;
}

export interface SessionStoreOptions {
  /** A session unused this long ends. Default 30 minutes. */
  idleMs?: number;
  /** A session ends this long after login, however busy. Default 12 hours. */
  maxAgeMs?: number;
  /** Most sessions at once; the least recently used one goes first. Default 100. */
  max?: number;
  now?: () => number;
  randomBytes?: (n: number) => Buffer;
}

export interface SessionStore {
  /** A new session and the token for its cookie (the only copy: the store keeps a hash). */
  create(principal: SessionPrincipal): { token: string; session: DashboardSession };
  /** The live session of a cookie token (and marks it used), or undefined. */
  get(token: string | undefined): DashboardSession | undefined;
  destroy(token: string | undefined): void;
  /** Ends every session for which `ended` says so (e.g. its admin key left the config). */
  sweep(ended?: (s: DashboardSession) => boolean): void;
  readonly size: number;
}

/** Longest token looked up: ours are 43 characters; anything much longer is not worth hashing. */
const MAX_TOKEN_LENGTH = 128;

const hashOf = (token: string) => createHash('sha256').update(token).digest('base64url');

/** Constant-time equality of two strings of any lengths (both hashed first). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * Dashboard sessions, in memory (a restart logs everyone out, which is fine for an operator
 * console). Keyed by a hash of the token, so the map never holds a usable cookie value; a Map
 * keeps insertion order, and a session is re-inserted when used, so the first entry is always
 * the least recently used one.
 */
export function createSessionStore(opts: SessionStoreOptions = {}): SessionStore {
  const idleMs = opts.idleMs ?? 30 * 60_000;
  const maxAgeMs = opts.maxAgeMs ?? 12 * 3_600_000;
  const max = Math.max(1, opts.max ?? 100);
  const now = opts.now ?? Date.now;
  const random = opts.randomBytes ?? nodeRandomBytes;
  const sessions = new Map<string, DashboardSession>();

  const expired = (s: DashboardSession, t: number) => t - s.lastSeen >= idleMs || t - s.createdAt >= maxAgeMs;

  return {
    create(principal) {
      const t = now();
      const token = random(32).toString('base64url');
      const session: DashboardSession = { principal, csrf: random(32).toString('base64url'), createdAt: t, lastSeen: t };
      this.sweep();
      while (sessions.size >= max) sessions.delete(sessions.keys().next().value!);
      sessions.set(hashOf(token), session);
      return { token, session };
    },

    get(token) {
      if (!token || token.length > MAX_TOKEN_LENGTH) return undefined;
      const key = hashOf(token);
      const s = sessions.get(key);
      if (!s) return undefined;
      const t = now();
      sessions.delete(key);
      if (expired(s, t)) return undefined;
      s.lastSeen = t;
      sessions.set(key, s);
      return s;
    },

    destroy(token) {
      if (token && token.length <= MAX_TOKEN_LENGTH) sessions.delete(hashOf(token));
    },

    sweep(ended) {
      const t = now();
      for (const [key, s] of sessions) if (expired(s, t) || ended?.(s)) sessions.delete(key);
    },

    get size() {
      return sessions.size;
    },
  };
}
