import type { JobError } from './job-store.js';

/** What the injected `execute` answered: the HTTP status and JSON body the router would have sent. */
export interface JobExecuteResult {
  status: number;
  body: unknown;
}

/** What the runner does with a run's answer. */
export type JobVerdict =
  | { kind: 'succeeded'; result: unknown }
  /** The request itself is at fault (4xx): running it again would fail the same way. */
  | { kind: 'failed'; error: JobError }
  /** The router or an upstream failed (5xx, a rate limit, a throw): worth another attempt. */
  | { kind: 'retry'; error: JobError };

const INTERNAL: JobError = { message: 'The router failed to process the request.', type: 'server_error', code: 'internal_error', status: 500 };

/** The OpenAI error of a wire body (`{ error: { message, type, code } }`), loosely read. */
function errorOf(status: number, body: unknown): JobError {
  const e = (body as { error?: { message?: unknown; type?: unknown; code?: unknown } } | null)?.error;
  return {
    message: typeof e?.message === 'string' ? e.message : `The request failed with HTTP ${status}.`,
    type: typeof e?.type === 'string' ? e.type : status >= 500 ? 'server_error' : 'invalid_request_error',
    code: typeof e?.code === 'string' ? e.code : null,
    status,
  };
}

/**
 * 2xx: succeeded, the body is the result. 429 is retried (a rate limit passes; a job can
 * wait) unless it is an exhausted budget (`insufficient_quota`), which does not pass. Other
 * 4xx fail at once. 5xx and a thrown error are retried while attempts remain.
 */
export function judgeExecution(outcome: { result: JobExecuteResult } | { thrown: unknown }): JobVerdict {
  if ('thrown' in outcome) return { kind: 'retry', error: INTERNAL };
  const { status, body } = outcome.result;
  if (status >= 200 && status < 300) return { kind: 'succeeded', result: body };
  const error = errorOf(status, body);
  if (status === 429) return error.type === 'insufficient_quota' || error.code === 'insufficient_quota' ? { kind: 'failed', error } : { kind: 'retry', error };
  if (status >= 400 && status < 500) return { kind: 'failed', error };
  return { kind: 'retry', error };
}
