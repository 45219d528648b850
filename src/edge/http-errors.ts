import { randomUUID } from 'node:crypto';
import { UPSTREAM_RESPONSE_TOO_LARGE, type ProviderError } from '../core/provider-error.js';
import { RouteError } from '../routing/route-error.js';
import { WireValidationError } from '../wire/wire-common.js';
import { isProviderError } from '../core/provider-error.js';
import { LimitRefusal } from '../policies/limits-policy.js';
import { StateUnavailableError } from '../state/types.js';
import { ContentPolicyViolation } from '../safety/safety-errors.js';

/** OpenAI's error body: the only error shape an app ever sees. */
export interface WireError {
  status: number;
  body: { error: { message: string; type: string; param: string | null; code: string | null } };
  headers?: Record<string, string>;
}

export function wireError(status: number, message: string, type: string, param: string | null = null, code: string | null = null): WireError {
  return { status, body: { error: { message, type, param, code } } };
}

/** A body over `server.bodyLimit` (`limit` as configured, e.g. "4mb"). */
export const requestTooLarge = (limit: string): WireError => wireError(413, `Request body too large: the limit is ${limit}.`, 'invalid_request_error', null, 'request_too_large');

/** A body that is not JSON (or, as body-parser's strict mode, not an object or array). */
export const invalidJsonBody = (): WireError => wireError(400, 'We could not parse the JSON body of your request. The body must be valid JSON.', 'invalid_request_error', null, 'invalid_json');

/** The request id an app sent in `x-request-id` when it is a usable one, else a new one. */
export function requestIdOf(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}
const REQUEST_ID = /^[\w.:-]{1,128}$/;

function fromProviderError(err: ProviderError): WireError {
  const retryAfter = err.retryAfterMs !== undefined ? { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) } : undefined;
  switch (err.kind) {
    case 'invalid_request':
      // The upstream judged the request itself invalid: the app's to fix.
      return wireError(400, err.message, 'invalid_request_error', err.param ?? null, err.code ?? null);
    case 'rate_limit':
    case 'capacity':
      return { ...wireError(429, err.message, 'rate_limit_error', null, err.kind === 'capacity' ? 'capacity_exceeded' : 'rate_limit_exceeded'), headers: retryAfter };
    case 'timeout':
      return wireError(504, err.message, 'timeout_error', null, 'upstream_timeout');
    case 'breaker_open':
      return { ...wireError(503, err.message, 'service_unavailable', null, 'no_healthy_upstream'), headers: retryAfter };
    case 'auth':
      // The router's own credentials were refused upstream: not the app's fault.
      return wireError(502, err.message, 'upstream_error', null, 'upstream_auth_failed');
    case 'not_found':
      return wireError(502, err.message, 'upstream_error', null, 'upstream_model_not_found');
    case 'aborted':
      return wireError(499, err.message, 'request_aborted', null, 'client_closed_request');
    case 'internal':
      // The router's own failure: the message may hold internals, so the app gets a generic one.
      return wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error');
    case 'server':
      // Only codes the router itself sets are named; an upstream's own code stays with the operator.
      return wireError(502, err.message, 'upstream_error', null, err.code === UPSTREAM_RESPONSE_TOO_LARGE ? UPSTREAM_RESPONSE_TOO_LARGE : 'upstream_error');
    case 'network':
      return wireError(502, err.message, 'upstream_error', null, 'upstream_unreachable');
  }
}

/** Maps anything thrown while serving a request to the error the app gets. */
export function toWireError(err: unknown): WireError {
  if (err instanceof WireValidationError) return wireError(400, err.message, 'invalid_request_error', err.param, 'invalid_value');
  if (err instanceof RouteError) {
    switch (err.reason) {
      case 'unknown_route':
        return wireError(404, err.message, 'invalid_request_error', 'model', 'model_not_found');
      case 'invalid_request':
        return wireError(400, err.message, 'invalid_request_error', err.param ?? null, 'invalid_value');
      case 'no_capable_target':
        return wireError(400, err.message, 'invalid_request_error', null, 'unsupported_by_route');
      case 'context_length_exceeded':
        return wireError(400, err.message, 'invalid_request_error', 'messages', 'context_length_exceeded');
      case 'privacy_unavailable':
        return wireError(400, err.message, 'invalid_request_error', 'messages', 'privacy_no_trusted_target');
      case 'no_available_target':
        return { ...wireError(503, err.message, 'service_unavailable', null, 'no_healthy_upstream'), headers: { 'retry-after': '5' } };
      case 'exhausted':
        return err.last ? fromProviderError(err.last) : wireError(502, err.message, 'upstream_error', null, 'upstream_error');
    }
  }
  if (isProviderError(err)) return fromProviderError(err);
  if (err instanceof ContentPolicyViolation) return wireError(400, err.message, 'invalid_request_error', 'messages', 'content_policy_violation');
  if (err instanceof LimitRefusal) {
    // The router's own limits: OpenAI's codes, headers (retry-after, retry-after-ms, x-ratelimit-*) included.
    const type = err.code === 'insufficient_quota' ? 'insufficient_quota' : 'rate_limit_error';
    return { ...wireError(429, err.message, type, null, err.code), headers: err.headers };
  }
  if (err instanceof StateUnavailableError) {
    // Limits cannot be checked and the operator chose fail-closed: the caller may retry shortly.
    return { ...wireError(503, 'Limits cannot be checked right now; retry shortly.', 'service_unavailable', null, 'state_unavailable'), headers: { 'retry-after': '2' } };
  }
  return wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error');
}
