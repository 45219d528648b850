import type { IdentityError } from './types.js';

/** Same shape as the edge's WireError (kept local so identity does not import the edge). */
export interface IdentityWireError {
  status: number;
  body: { error: { message: string; type: string; param: string | null; code: string | null } };
  headers?: Record<string, string>;
}

const wire = (status: number, message: string, type: string, param: string | null, code: string | null, headers?: Record<string, string>): IdentityWireError => ({
  status,
  body: { error: { message, type, param, code } },
  ...(headers ? { headers } : {}),
});

/**
 * The answer to a refused credential, OpenAI-shaped: 401 `invalid_api_key` for a missing,
 * unknown, revoked or expired key or a bad token (the message says which, never echoing the
 * credential), 503 when the key store or JWKS endpoint cannot be reached (with a
 * retry-after, since the caller's credential may well be fine).
 */
export function identityErrorToWire(err: IdentityError): IdentityWireError {
  if (err.error === 'unavailable') return wire(503, err.message, 'service_unavailable', null, 'auth_unavailable', { 'retry-after': '2' });
  return wire(401, err.message, 'invalid_request_error', null, 'invalid_api_key');
}

/** 403 for a caller whose key or token does not list the route (the route is what the app sent as `model`). */
export function routeNotAllowed(route: string): IdentityWireError {
  const shown = route.length > 200 ? `${route.slice(0, 200)}…` : route;
  return wire(403, `This API key is not allowed to use the model '${shown}'.`, 'invalid_request_error', 'model', 'model_not_allowed');
}
