/** Session failures as the OpenAI error JSON an app gets: for /v1/sessions and for chat requests with x-session-id. */
import { wireError, type WireError } from '../edge/http-errors.js';
import { StateUnavailableError } from '../state/types.js';
import { InvalidSessionId, SessionExists, SessionNotFound, SessionTooLarge } from './session-types.js';

/**
 * The answer for a session failure; undefined for anything else (the caller's own handling
 * then applies). `param` names where the id came from: `session_id` (path or x-session-id) or `id` (a body).
 */
export function sessionWireError(err: unknown, param = 'session_id'): WireError | undefined {
  if (err instanceof InvalidSessionId) return wireError(400, err.message, 'invalid_request_error', param, 'invalid_value');
  // Also another caller's session: its existence is never revealed (404, not 403).
  if (err instanceof SessionNotFound) return wireError(404, err.message, 'invalid_request_error', param, 'session_not_found');
  if (err instanceof SessionExists) return wireError(409, err.message, 'invalid_request_error', param, 'session_exists');
  if (err instanceof SessionTooLarge) return wireError(413, err.message, 'invalid_request_error', 'messages', 'session_too_large');
  if (err instanceof StateUnavailableError) {
    return { ...wireError(503, 'The session store is unavailable; retry shortly.', 'service_unavailable', null, 'state_unavailable'), headers: { 'retry-after': '2' } };
  }
  return undefined;
}
