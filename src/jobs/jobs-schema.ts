import { z } from 'zod';

/** A webhook prefix: an http(s) URL without credentials; the path is a prefix of allowed paths. */
const webhookPrefix = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.username === '' && u.password === '' && u.hash === '' && u.search === '';
    } catch {
      return false;
    }
  }, 'an http(s) URL prefix without credentials, query or fragment, e.g. "https://hooks.example.com/router/"');

export const jobWebhookSchema = z.strictObject({
  allow: z
    .array(webhookPrefix)
    .min(1)
    .describe('URL prefixes a job\'s webhook may point to, e.g. "https://hooks.example.com/". Compared parsed: same scheme, host and port, and the path under the prefix\'s path; URLs with credentials are refused.'),
  secret: z
    .string()
    .min(16)
    .describe('HMAC-SHA-256 key signing each webhook body (x-router-signature: sha256=<hex>). Use ${ENV} interpolation; it is never logged.'),
  timeoutMs: z.number().int().positive().max(60_000).default(5_000).describe('Longest wait for one webhook delivery; a failed delivery is tried again twice.'),
});

/**
 * The `jobs` section: long requests run in the background (`POST /v1/jobs`, or
 * `x-router-async: true` on /v1/chat/completions). Jobs live under `<dataDir>/jobs/` (one
 * process) or in Redis with `state.backend: redis`, and survive a restart.
 */
export const jobsSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Accept background jobs (/v1/jobs and x-router-async).'),
  concurrency: z.number().int().min(1).max(1_000).default(2).describe('Jobs this instance runs at once; the rest wait in the queue.'),
  maxQueued: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(1_000)
    .describe('Jobs waiting at most (this instance with files, all instances with Redis); beyond it a submit gets 429 job_queue_full.'),
  maxRequestBytes: z
    .number()
    .int()
    .min(1_024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024)
    .describe('Largest request body of a job, in bytes (stored whole until it runs); beyond it 413.'),
  resultTtlMs: z
    .number()
    .int()
    .min(1_000)
    .default(24 * 60 * 60 * 1000)
    .describe('How long a finished job (result or error) is kept after it ends; then GET answers 404.'),
  maxAttempts: z
    .number()
    .int()
    .min(1)
    .max(10)
    .default(2)
    .describe('Runs a job gets at most: a run interrupted by a crash or an upstream 5xx is tried again until then; then the job fails with the reason.'),
  leaseMs: z
    .number()
    .int()
    .min(300)
    .max(600_000)
    .default(30_000)
    .describe('How long a running job stays claimed without a heartbeat (sent every leaseMs/3); a job whose runner died is taken up again after this.'),
  retryDelayMs: z.number().int().min(10).max(600_000).default(1_000).describe('Backoff before a failed run (5xx, 429, the router stopping) is tried again: doubled per attempt, with jitter.'),
  maxRetryDelayMs: z.number().int().min(10).max(3_600_000).default(60_000).describe('Longest backoff between runs of one job.'),
  webhook: jobWebhookSchema.optional().describe('Webhooks called when a job ends (x-router-webhook-url on submit); absent: webhook URLs are refused.'),
});

/** The parsed `jobs` section. */
export type JobsConfig = z.output<typeof jobsSchema>;
export type JobWebhookConfig = z.output<typeof jobWebhookSchema>;
