import type { ProviderError } from '../core/provider-error.js';
import type { Attempt } from './attempts.js';

/** Why a route could not answer, for the edge to turn into an HTTP error. */
export type RouteErrorReason =
  /** The app named a route that does not exist. */
  | 'unknown_route'
  /** No target of the route can serve this request (capabilities, context length). */
  | 'no_capable_target'
  /** Every target is disabled or its breaker is open. */
  | 'no_available_target'
  /** The request breaks a rule of the route (a cap on n or max_tokens); `param` names the field. */
  | 'invalid_request'
  /** Targets were tried and all failed; `last` says how. */
  | 'exhausted';

export class RouteError extends Error {
  constructor(
    readonly reason: RouteErrorReason,
    message: string,
    readonly attempts: Attempt[] = [],
    readonly last?: ProviderError,
    readonly param?: string,
  ) {
    super(message);
    this.name = 'RouteError';
  }
}
