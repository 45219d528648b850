import type { Budget, RateLimits } from '../state/types.js';

/**
 * Who is calling, as the rest of the router sees it: limits, budgets, usage records and the
 * route check read this and never the key or token itself.
 */
export interface Identity {
  /**
   * How the caller proved who it is: a virtual key, a JWT, or a legacy `auth.keys` entry;
   * `anonymous` when no client auth is configured at all (loopback-only mode) and the caller
   * presented no credential the router knows.
   */
  kind: 'key' | 'jwt' | 'static' | 'anonymous';
  /**
   * Stable id that logs, metrics, limit buckets and usage name: the key id (`key_…`, or the
   * config id), `jwt:<subject>` for tokens (prefixed so a subject can never share buckets with
   * a key of the same id), `key-0`, `key-1`… for legacy keys, `anonymous` without auth.
   */
  keyId: string;
  name?: string;
  team?: string;
  /** Routes the caller may use; undefined: every route. */
  routes?: string[];
  limits?: RateLimits;
  budget?: Budget;
  /** JWT only: the limit tier the token named (a key of `auth.jwt.tiers`). */
  tier?: string;
}

/**
 * Why a presented credential was refused. `unavailable` is the router's own trouble (the key
 * store or the JWKS endpoint could not be reached): the caller may be fine, so it is a 503, not a 401.
 */
export type IdentityErrorKind = 'missing' | 'unknown' | 'revoked' | 'expired' | 'invalid_token' | 'unavailable';

/** A refusal with a message safe to show the caller (it never echoes the credential). */
export interface IdentityError {
  error: IdentityErrorKind;
  message: string;
}

/** Narrows an authentication result. */
export function isIdentityError(v: Identity | IdentityError): v is IdentityError {
  return 'error' in v;
}
