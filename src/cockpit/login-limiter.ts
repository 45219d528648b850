/**
 * Failed dashboard logins, counted per client address and overall in fixed windows. A client
 * past its allowance waits for its window to end; so does everyone once the overall allowance
 * is spent (a guesser spread over many addresses). Only failures count, and a success clears
 * the client's count. Written here rather than taken from rate-limiter-flexible: ~60 lines,
 * no dependency for a login form, and the clock is injectable for tests.
 */

export interface LoginLimiterOptions {
  /** Failures a client may make per window. Default 5. */
  perClient?: number;
  /** Failures all clients together may make per window. Default 50. */
  overall?: number;
  /** Window length. Default 5 minutes. */
  windowMs?: number;
  /** Client addresses remembered at most (the oldest are forgotten first). Default 10 000. */
  maxClients?: number;
  now?: () => number;
}

export type LoginCheck = { ok: true } | { ok: false; retryAfterMs: number };

export interface LoginLimiter {
  /** Whether `client` may try now. */
  check(client: string): LoginCheck;
  failed(client: string): void;
  succeeded(client: string): void;
}

interface Window {
  start: number;
  failures: number;
}

export function createLoginLimiter(opts: LoginLimiterOptions = {}): LoginLimiter {
  const perClient = opts.perClient ?? 5;
  const overall = opts.overall ?? 50;
  const windowMs = opts.windowMs ?? 5 * 60_000;
  const maxClients = opts.maxClients ?? 10_000;
  const now = opts.now ?? Date.now;
  const clients = new Map<string, Window>();
  let all: Window = { start: now(), failures: 0 };

  const current = (w: Window | undefined, t: number): Window | undefined => (w && t - w.start < windowMs ? w : undefined);

  return {
    check(client) {
      const t = now();
      const mine = current(clients.get(client), t);
      if (mine && mine.failures >= perClient) return { ok: false, retryAfterMs: mine.start + windowMs - t };
      const everyone = current(all, t);
      if (everyone && everyone.failures >= overall) return { ok: false, retryAfterMs: everyone.start + windowMs - t };
      return { ok: true };
    },

    failed(client) {
      const t = now();
      if (!current(all, t)) all = { start: t, failures: 0 };
      all.failures++;
      let mine = current(clients.get(client), t);
      clients.delete(client);
      if (!mine) mine = { start: t, failures: 0 };
      mine.failures++;
      while (clients.size >= maxClients) clients.delete(clients.keys().next().value!);
      clients.set(client, mine);
    },

    succeeded(client) {
      clients.delete(client);
    },
  };
}
