import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTVerifyGetKey } from 'jose';

/** The JWKS endpoint could not be reached and no keys were ever fetched: the router's trouble, answered 503. */
export class JwksUnavailableError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('The identity provider\'s signing keys could not be fetched.', options);
    this.name = 'JwksUnavailableError';
  }
}

/** Settings of {@link createRemoteJwks}, from `auth.jwt` in ms. */
export interface RemoteJwksOptions {
  url: string;
  /** Keys are fetched again after this long (jose `cacheMaxAge`). */
  cacheMaxAgeMs: number;
  /** Least time after a fetch before an unknown kid may cause another (jose `cooldownDuration`). */
  cooldownMs: number;
  /** Timeout of one fetch (jose `timeoutDuration`). */
  timeoutMs: number;
  /**
   * After a failed fetch, how long the last good keys are used without trying again (default
   * 10 s): while the provider is down each request would otherwise wait out a fetch timeout.
   */
  failureBackoffMs?: number;
  /** Fetch the keys at once instead of on the first token (default true). */
  prefetch?: boolean;
  onError?: (err: Error) => void;
}

/** Errors that come from the keys fetched (no such kid, two match, unusable key), not from fetching. */
function isKeySelectionError(err: unknown): boolean {
  return (
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSENotSupported ||
    err instanceof errors.JWKInvalid ||
    err instanceof errors.JOSEAlgNotAllowed
  );
}

/**
 * A JWKS URL as a jose key resolver: jose's remote set (cached for `cacheMaxAgeMs`; a kid not
 * seen yet triggers one fetch, at most one per `cooldownMs`; concurrent misses share it), and
 * on top of it: when the endpoint fails, the last keys fetched keep verifying tokens (an
 * identity provider outage must not log every caller out), and fetching is not retried for
 * `failureBackoffMs`.
 */
export function createRemoteJwks(opts: RemoteJwksOptions): JWTVerifyGetKey & { reload(): Promise<void> } {
  const remote = createRemoteJWKSet(new URL(opts.url), {
    cacheMaxAge: opts.cacheMaxAgeMs,
    cooldownDuration: opts.cooldownMs,
    timeoutDuration: opts.timeoutMs,
  });
  const backoff = opts.failureBackoffMs ?? 10_000;
  let failedAt = -Infinity;
  let stale: { from: unknown; keys: ReturnType<typeof createLocalJWKSet> } | undefined;

  const staleKeys = () => {
    const jwks = remote.jwks();
    if (!jwks) return undefined;
    // remote.jwks() clones on every call: rebuild the local set only when the cached set was replaced.
    const key = JSON.stringify(jwks);
    if (stale?.from !== key) stale = { from: key, keys: createLocalJWKSet(jwks) };
    return stale.keys;
  };

  const fail = (err: unknown) => {
    failedAt = Date.now();
    opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  };

  const resolve: JWTVerifyGetKey = async (header, token) => {
    if (Date.now() - failedAt < backoff) {
      const keys = staleKeys();
      if (!keys) throw new JwksUnavailableError();
      return keys(header, token);
    }
    try {
      return await remote(header, token);
    } catch (err) {
      if (isKeySelectionError(err)) throw err;
      fail(err);
      const keys = staleKeys();
      if (!keys) throw new JwksUnavailableError({ cause: err });
      return keys(header, token);
    }
  };

  if (opts.prefetch !== false) remote.reload().catch(fail);
  return Object.assign(resolve, { reload: () => remote.reload() });
}
