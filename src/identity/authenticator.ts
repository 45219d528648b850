import { StateUnavailableError } from '../state/types.js';
import type { KeyAuthFailure, KeyService } from './key-service.js';
import { looksLikeJwt, type JwtVerifier } from './jwt.js';
import { createStaticKeyMatcher } from './static-keys.js';
import type { Identity, IdentityError } from './types.js';

/** A value fixed at start, or a getter for the one in force (config reloads replace them). */
type Live<T> = T | (() => T);
const read = <T>(v: Live<T>): T => (typeof v === 'function' ? (v as () => T)() : v);

/** The credential sources; any may be absent (then nothing of that kind is accepted). */
export interface AuthenticatorOptions {
  /** Legacy `auth.keys` (plain strings), identities `key-0`, `key-1`…; a getter follows reloads. */
  staticKeys?: Live<readonly string[]>;
  /** Virtual keys. */
  keyService?: KeyService;
  /** `auth.jwt`'s verifier when configured; a getter follows reloads. */
  jwt?: Live<JwtVerifier | undefined>;
}

/** Turns a presented credential into an identity. */
export interface Authenticator {
  /** Who presented this credential, or why it is refused. Never throws for a bad credential. */
  authenticate(presented: string | undefined): Promise<Identity | IdentityError>;
  /**
   * The same answer, but synchronous when it needs no I/O (no credential, a legacy key, a
   * cached virtual key), a promise otherwise: the per-request path uses it so the common case
   * costs no promise and no closures. Optional so that other authenticators need only `authenticate`.
   */
  check?(presented: string | undefined): Identity | IdentityError | Promise<Identity | IdentityError>;
}

const MESSAGES = {
  missing: 'You did not provide an API key. Send it as "Authorization: Bearer <key>".',
  unknown: 'Incorrect API key provided.',
  revoked: 'This API key has been revoked.',
  expired: 'This API key has expired.',
  unavailable: 'API keys cannot be checked right now; retry shortly.',
} as const;

/**
 * The one place a presented credential becomes an identity. Order: a legacy `auth.keys` entry
 * (a cheap in-memory constant-time check, and such a key might happen to contain dots); then,
 * when JWT is configured, anything shaped like a JWT is a token and only a token (it is never
 * also tried as a key); anything else is a virtual key.
 */
export function createAuthenticator(opts: AuthenticatorOptions): Authenticator {
  let cachedStatic: { keys: readonly string[]; match: ReturnType<typeof createStaticKeyMatcher> } | undefined;
  const staticMatch = (candidate: string): Identity | undefined => {
    const keys = opts.staticKeys === undefined ? [] : read(opts.staticKeys);
    if (!keys.length) return undefined;
    // Re-hashed only when the list changes (a reload hands a new array).
    if (cachedStatic?.keys !== keys) cachedStatic = { keys, match: createStaticKeyMatcher(keys) };
    return cachedStatic.match(candidate);
  };

  const check = (presented: string | undefined): Identity | IdentityError | Promise<Identity | IdentityError> => {
    const credential = presented?.trim();
    if (!credential) return { error: 'missing', message: MESSAGES.missing };
    const fromStatic = staticMatch(credential);
    if (fromStatic) return fromStatic;
    const jwt = opts.jwt === undefined ? undefined : read(opts.jwt);
    if (jwt && looksLikeJwt(credential)) return jwt.verify(credential);
    if (!opts.keyService) return { error: 'unknown', message: MESSAGES.unknown };
    const r = opts.keyService.check(credential);
    return r instanceof Promise ? r.then(keyResult, storeTrouble) : keyResult(r);
  };

  return {
    // Async, so a synchronous throw of `check` becomes a rejection, as before.
    async authenticate(presented) {
      return check(presented);
    },
    check,
  };
}

/** A key service verdict as the authenticator answers it (module-level: no closure per request). */
function keyResult(r: Identity | KeyAuthFailure): Identity | IdentityError {
  return 'error' in r ? { error: r.error, message: MESSAGES[r.error] } : r;
}

/** An unreachable key store is `unavailable` (a 503); anything else stays an error. */
function storeTrouble(err: unknown): IdentityError {
  if (err instanceof StateUnavailableError) return { error: 'unavailable', message: MESSAGES.unavailable };
  throw err;
}

/** Whether `identity` may call `route`: no list means every route; "*" in the list too. */
export function mayUseRoute(identity: Identity, route: string): boolean {
  if (identity.routes === undefined) return true;
  return identity.routes.includes(route) || identity.routes.includes('*');
}
