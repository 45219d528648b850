/** Failure classes; routing, retry and breaker decisions read only these. */
export type ProviderErrorKind =
  | 'invalid_request'
  | 'auth'
  | 'not_found'
  | 'rate_limit'
  | 'timeout'
  | 'server'
  | 'network'
  | 'breaker_open'
  | 'capacity'
  | 'aborted'
  /** The router itself failed building or reading a call (a bug, not the upstream): a 500, never counted against a target. */
  | 'internal';

/**
 * The one place error kinds are grouped; routing, retries and breakers ask these predicates.
 *
 * - unwell: the provider is at fault (counts against its breaker; worth another try on it).
 * - retryable: worth trying elsewhere: unwell kinds plus an open breaker.
 * The rest (invalid_request, auth, not_found, aborted, internal) are never retried on the same
 * target; auth and not_found still fall back by default (the router's own key or model name
 * was refused by that target, not the app's request), via ProviderError.retryable.
 */
const UNWELL: ReadonlySet<ProviderErrorKind> = new Set(['rate_limit', 'timeout', 'server', 'network', 'capacity']);
const RETRYABLE: ReadonlySet<ProviderErrorKind> = new Set([...UNWELL, 'breaker_open']);

/** Kinds that mean the provider is unwell: they count against its breaker and are retried on it. */
export function countsAgainstHealth(kind: ProviderErrorKind): boolean {
  return UNWELL.has(kind);
}

/** Kinds worth another try on the same target (after backoff). */
export function isTransient(kind: ProviderErrorKind): boolean {
  return UNWELL.has(kind);
}

/** Kinds that by default mean "try the next target". */
export function isRetryableKind(kind: ProviderErrorKind): boolean {
  return RETRYABLE.has(kind);
}

export interface ProviderErrorInit {
  kind: ProviderErrorKind;
  /** Provider instance id from config. */
  provider: string;
  /** What the app may read: names the provider, never an internal detail or a secret. */
  message: string;
  /** What operators read (logs, /admin/targets lastError): the full story, scrubbed of secrets too. */
  detail?: string;
  status?: number;
  retryAfterMs?: number;
  /** Overrides the default retryability of `kind`. */
  retryable?: boolean;
  /** Wire `param` for invalid requests the upstream attributed to a field. */
  param?: string | null;
  /** Upstream error code, when safe to show. */
  code?: string | null;
  cause?: unknown;
}

/** The one error type adapters throw. Neither message nor detail may contain secrets. */
export class ProviderError extends Error {
  readonly kind: ProviderErrorKind;
  readonly provider: string;
  readonly detail?: string;
  readonly retryable: boolean;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly param?: string | null;
  readonly code?: string | null;

  constructor(init: ProviderErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'ProviderError';
    this.kind = init.kind;
    this.provider = init.provider;
    this.detail = init.detail;
    this.retryable = init.retryable ?? RETRYABLE.has(init.kind);
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
    this.param = init.param;
    this.code = init.code;
  }
}

/** ProviderError.code (and the wire code) of an upstream answer too large to read: a `server` failure. */
export const UPSTREAM_RESPONSE_TOO_LARGE = 'upstream_response_too_large';

export function isProviderError(err: unknown): err is ProviderError {
  return err instanceof ProviderError;
}
