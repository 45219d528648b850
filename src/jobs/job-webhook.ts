/**
 * The webhook a job's submitter may ask for (`x-router-webhook-url`), POSTed once the job ends.
 * Only URLs under a prefix of the operator's allow-list are taken (the router must not be
 * made to POST anywhere a caller likes), compared as parsed URLs: same scheme, host and port,
 * and a path under the prefix's path (dot segments resolved first); credentials in the URL are
 * refused. Redirects are not followed (a redirect could leave the allow-list).
 *
 * The body is signed: `x-router-signature: sha256=<hex HMAC-SHA-256(secret, raw body)>`, and
 * `x-router-timestamp` (unix seconds) repeats the body's `timestamp`, so a receiver that
 * checks the HMAC over the raw bytes and then the age of `timestamp` also rejects replays.
 *
 * Delivery is best effort: up to three tries (timeouts, network errors, 429 and 5xx are tried
 * again after 0.5 s, then 1 s), never delaying or failing the job; GET /v1/jobs/{id} stays the
 * source of truth. A job that ends while the router stops may not be announced. The secret and
 * the URL's query are never logged.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

import type { StateLogger } from '../state/state-logger.js';
import type { JobRecord } from './job-store.js';

export interface JobWebhookOptions {
  /** URL prefixes (jobs.webhook.allow). */
  allow: readonly string[];
  /** HMAC key. */
  secret: string;
  timeoutMs: number;
  /** Tries after the first (default 2). */
  retries?: number;
  /** Delay before the first retry, doubling (default 500 ms). */
  retryDelayMs?: number;
  logger: StateLogger;
  fetch?: typeof fetch;
  now?: () => number;
}

/** The JSON body POSTed. */
export interface JobWebhookBody {
  id: string;
  object: 'job';
  status: JobRecord['status'];
  /** Unix seconds of this delivery; also in x-router-timestamp. */
  timestamp: number;
  result?: unknown;
  error?: { message: string; type: string; param: null; code: string | null; status: number };
}

export interface JobWebhook {
  /** Why `url` may not be used, or undefined when it may. */
  refusal(url: string): string | undefined;
  /** POSTs the ended job to its webhookUrl; resolves true once a 2xx took it (never rejects). */
  notify(job: JobRecord): Promise<boolean>;
}

const MAX_URL_LENGTH = 2_048;

/** Why `url` is not under one of `allow`'s prefixes (parsed comparison), or undefined. */
export function webhookUrlRefusal(url: string, allow: readonly string[]): string | undefined {
  if (url.length > MAX_URL_LENGTH) return `longer than ${MAX_URL_LENGTH} characters`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not an absolute URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'only http and https URLs are allowed';
  if (u.username !== '' || u.password !== '') return 'URLs with credentials are refused';
  for (const prefix of allow) {
    let p: URL;
    try {
      p = new URL(prefix);
    } catch {
      continue;
    }
    if (u.protocol !== p.protocol || u.host !== p.host) continue;
    const base = p.pathname;
    if (base.endsWith('/') ? u.pathname.startsWith(base) : u.pathname === base || u.pathname.startsWith(`${base}/`)) return undefined;
  }
  return 'it is not under a prefix the operator allows (jobs.webhook.allow)';
}

/** `sha256=<hex>` of the raw body. */
export function signWebhookBody(secret: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody, 'utf8').digest('hex')}`;
}

/** For receivers (and tests): constant-time check of a signature header against the raw body. */
export function verifyWebhookSignature(secret: string, rawBody: string, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signWebhookBody(secret, rawBody));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The URL without credentials or query (which may hold a token), for logs. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

export function webhookBody(job: JobRecord, timestamp: number): JobWebhookBody {
  return {
    id: job.id,
    object: 'job',
    status: job.status,
    timestamp,
    ...(job.status === 'succeeded' ? { result: job.result } : {}),
    ...(job.status === 'failed' && job.error ? { error: { message: job.error.message, type: job.error.type, param: null, code: job.error.code, status: job.error.status } } : {}),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

export function createJobWebhook(options: JobWebhookOptions): JobWebhook {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const tries = 1 + (options.retries ?? 2);
  const retryDelayMs = options.retryDelayMs ?? 500;
  const { logger } = options;

  return {
    refusal: (url) => webhookUrlRefusal(url, options.allow),
    async notify(job) {
      const url = job.webhookUrl;
      if (!url) return false;
      // Checked again: the allow-list may have changed since the submit.
      const refused = webhookUrlRefusal(url, options.allow);
      if (refused) {
        logger.warn({ job: job.id, url: shown(url), reason: refused }, 'job webhook not called');
        return false;
      }
      for (let attempt = 1; attempt <= tries; attempt++) {
        const timestamp = Math.floor(now() / 1000);
        const raw = JSON.stringify(webhookBody(job, timestamp));
        let retry = true;
        try {
          const res = await doFetch(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'user-agent': 'llm-router',
              'x-router-signature': signWebhookBody(options.secret, raw),
              'x-router-timestamp': String(timestamp),
            },
            body: raw,
            signal: AbortSignal.timeout(options.timeoutMs),
            redirect: 'manual',
          });
          await res.body?.cancel().catch(() => undefined);
          if (res.status >= 200 && res.status < 300) return true;
          retry = res.status === 429 || res.status >= 500;
          logger.warn({ job: job.id, url: shown(url), status: res.status, attempt }, 'job webhook refused the notice');
        } catch (err) {
          const message = (err as Error).name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : (err as Error).message;
          logger.warn({ job: job.id, url: shown(url), err: message, attempt }, 'job webhook failed');
        }
        if (!retry || attempt === tries) break;
        await sleep(retryDelayMs * 2 ** (attempt - 1));
      }
      return false;
    },
  };
}
