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
  | 'aborted';

/** Kinds that mean "try elsewhere": the provider, not the request, is at fault. */
const RETRYABLE: ReadonlySet<ProviderErrorKind> = new Set(['rate_limit', 'timeout', 'server', 'network', 'breaker_open', 'capacity']);

export interface ProviderErrorInit {
  kind: ProviderErrorKind;
  /** Provider instance id from config. */
  provider: string;
  message: string;
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

/** The one error type adapters throw. Messages must never contain secrets. */
export class ProviderError extends Error {
  readonly kind: ProviderErrorKind;
  readonly provider: string;
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
    this.retryable = init.retryable ?? RETRYABLE.has(init.kind);
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
    this.param = init.param;
    this.code = init.code;
  }
}

export function isProviderError(err: unknown): err is ProviderError {
  return err instanceof ProviderError;
}

/** Kinds that mean the provider is unwell (count against its breaker). */
export function countsAsProviderFailure(kind: ProviderErrorKind): boolean {
  return kind === 'server' || kind === 'timeout' || kind === 'network' || kind === 'rate_limit' || kind === 'capacity';
}
