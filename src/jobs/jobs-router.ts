import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';

import { identityOf } from '../edge/client-auth.js';
import { toWireError, wireError, type WireError } from '../edge/http-errors.js';
import type { Identity } from '../identity/types.js';
import type { StateLogger } from '../state/state-logger.js';
import { StateUnavailableError } from '../state/types.js';
import { JobQueueFullError, JobRequestTooLargeError, JobRunnerClosedError, JobWebhookNotAllowedError } from './job-errors.js';
import type { JobRunner } from './job-runner.js';
import { isJobId } from './job-store.js';
import { jobCreatedView, jobView } from './job-view.js';

/** The header naming the webhook of a job (checked against jobs.webhook.allow). */
export const WEBHOOK_URL_HEADER = 'x-router-webhook-url';

export interface JobsRouterOptions {
  /** Undefined while the router starts (the state backend is not open yet): 503. */
  runner: () => JobRunner | undefined;
  /**
   * Full validation of a chat completion body at submit time, so a bad request gets its 400
   * now rather than as a failed job; throws what the chat path throws (mapped by toWireError).
   */
  validate?: (body: Record<string, unknown>, identity: Identity) => void | Promise<void>;
  /** Body parser limit when the app has not parsed the body already (default "1mb"). */
  bodyLimit?: string;
  /** `Location` of a new job: this + id (default "/v1/jobs/"). */
  locationPrefix?: string;
  logger?: StateLogger;
}

/** `x-router-async: true` (or 1) on /v1/chat/completions asks for a job instead of an answer. */
export function wantsAsync(headers: Request['headers']): boolean {
  const v = headers['x-router-async'];
  const s = (Array.isArray(v) ? v[0] : v)?.trim().toLowerCase();
  return s === 'true' || s === '1';
}

const send = (res: Response, e: WireError) => {
  for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
  res.status(e.status).json(e.body);
};

const notFound = (id: string) => wireError(404, `No job with id '${id.slice(0, 100)}'.`, 'invalid_request_error', 'id', 'job_not_found');

/** Every refusal in OpenAI's error shape; internals stay in the log. */
function toJobWireError(err: unknown, logger: StateLogger | undefined): WireError {
  if (err instanceof JobQueueFullError) return { ...wireError(429, err.message, 'rate_limit_error', null, err.code), headers: { 'retry-after': '5' } };
  if (err instanceof JobRequestTooLargeError) return wireError(413, err.message, 'invalid_request_error', null, err.code);
  if (err instanceof JobWebhookNotAllowedError) return wireError(400, err.message, 'invalid_request_error', WEBHOOK_URL_HEADER, err.code);
  if (err instanceof JobRunnerClosedError) return { ...wireError(503, err.message, 'service_unavailable', null, err.code), headers: { 'retry-after': '1' } };
  if (err instanceof StateUnavailableError) {
    return { ...wireError(503, 'The job store is unavailable; retry shortly.', 'service_unavailable', null, 'state_unavailable'), headers: { 'retry-after': '2' } };
  }
  logger?.error({ err: (err as Error)?.message }, 'jobs endpoint failed');
  return wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error');
}

const starting = (): WireError => ({ ...wireError(503, 'The router is starting; retry shortly.', 'service_unavailable', null, 'starting'), headers: { 'retry-after': '1' } });

/**
 * Submits the chat completion body of `req` as a job: 202 `{ id, object: 'job', status,
 * created_at }` with `Location`. Mounted as POST /v1/jobs, and used by the chat endpoint for
 * requests with `x-router-async: true` (see `wantsAsync`).
 */
export function createJobSubmitHandler(opts: JobsRouterOptions): RequestHandler {
  const location = opts.locationPrefix ?? '/v1/jobs/';
  return async (req, res) => {
    const runner = opts.runner();
    if (!runner) return send(res, starting());
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return send(res, wireError(400, 'The request body must be a JSON object (a chat completion request).', 'invalid_request_error', null, 'invalid_value'));
    }
    const request = body as Record<string, unknown>;
    if (request.stream === true) {
      // A job's result is one chat.completion; there is no one to stream to.
      return send(res, wireError(400, 'A job cannot stream: leave out stream (the result is one chat.completion).', 'invalid_request_error', 'stream', 'invalid_value'));
    }
    const identity = identityOf(res.locals);
    if (opts.validate) {
      try {
        await opts.validate(request, identity);
      } catch (err) {
        return send(res, toWireError(err));
      }
    }
    const header = req.headers[WEBHOOK_URL_HEADER];
    const webhookUrl = Array.isArray(header) ? header[0] : header;
    try {
      const job = await runner.submit(identity.keyId, identity.team, request, webhookUrl ? { webhookUrl } : {});
      res.setHeader('location', `${location}${job.id}`);
      res.status(202).json(jobCreatedView(job));
    } catch (err) {
      send(res, toJobWireError(err, opts.logger));
    }
  };
}

/**
 * Long jobs, mounted by the app under /v1 behind client auth:
 *
 *   POST   /jobs       a chat completion body → 202 + Location (x-router-webhook-url: optional webhook)
 *   GET    /jobs/:id   status, attempts, progress, and the chat.completion once succeeded
 *   DELETE /jobs/:id   cancel (a running job's upstream call is aborted); a finished job is returned as it is
 *
 * A job belongs to the caller's key id: another caller gets 404, as for a job that never was
 * (callers without auth, in loopback-only mode, share the `anonymous` id).
 */
export function createJobsRouter(opts: JobsRouterOptions): express.Router {
  const router = express.Router();
  // Only on POST /jobs (the router is mounted on /v1, beside the other endpoints and their own parsers).
  const json = express.json({ limit: opts.bodyLimit ?? '1mb' });
  const bodyErrors = (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const type = (err as { type?: unknown } | null)?.type;
    if (type === 'entity.parse.failed') return send(res, wireError(400, 'The request body is not valid JSON.', 'invalid_request_error', null, 'invalid_json'));
    if (type === 'entity.too.large') return send(res, wireError(413, 'The request body is too large.', 'invalid_request_error', null, 'request_too_large'));
    next(err);
  };

  router.post('/jobs', json, createJobSubmitHandler(opts), bodyErrors);

  router.get('/jobs/:id', async (req, res) => {
    const runner = opts.runner();
    if (!runner) return send(res, starting());
    const { id } = req.params;
    try {
      const job = isJobId(id) ? await runner.get(id, identityOf(res.locals).keyId) : undefined;
      if (!job) return send(res, notFound(id));
      res.json(jobView(job));
    } catch (err) {
      send(res, toJobWireError(err, opts.logger));
    }
  });

  router.delete('/jobs/:id', async (req, res) => {
    const runner = opts.runner();
    if (!runner) return send(res, starting());
    const { id } = req.params;
    try {
      const job = isJobId(id) ? await runner.cancel(id, identityOf(res.locals).keyId) : undefined;
      if (!job) return send(res, notFound(id));
      res.json(jobView(job));
    } catch (err) {
      send(res, toJobWireError(err, opts.logger));
    }
  });

  return router;
}
