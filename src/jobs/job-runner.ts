/**
 * The worker pool of long jobs: claims queued jobs from the store (at most `concurrency` at
 * once on this instance), runs each through the injected `execute`, keeps its lease alive with
 * a heartbeat every `leaseMs / 3`, and stores how it ended.
 *
 * Guarantees, and how:
 * - Never lost: a job is in the store before submit resolves; a run that ends without its
 *   outcome stored (crash, Redis gone) leaves the job leased to a dead runner, and the reaper
 *   (every instance, every `leaseMs / 3`; the file store at start) queues it again, or fails it
 *   with `interrupted: …` once `maxAttempts` runs were started.
 * - Never run twice at once: only a claim starts a run, and a claim takes a queued job only.
 *   A runner that cannot renew its lease stops the run itself (abort) before the lease can run
 *   out: about 2/3 of a lease after its last good renewal, or at once when the store says the
 *   lease is gone (job-task.ts). A process frozen for longer than a lease is the one case left.
 * - Cancel: a queued job is cancelled at once; a running one is marked cancelled in the store
 *   (final from then on) and its run aborted: here at once, on another instance through the
 *   store's event (Redis pub/sub), or at its next heartbeat if the event was missed.
 * - Shutdown (`close`): no new claims; running jobs are aborted and given back to the queue
 *   with the attempt not counted, so a restart (or another instance) runs them again from the
 *   start. If that write fails, the lease runs out and the reaper re-queues them (counted).
 *
 * Outcomes: 2xx → succeeded (result = body); 4xx → failed at once; 5xx, 429 (except an
 * exhausted budget) or a throw → queued again after a backoff while `attempts < maxAttempts`,
 * else failed with that error. The webhook, if any, is called once the job has ended.
 */
import type { StateLogger } from '../state/state-logger.js';
import { JobRequestTooLargeError, JobRunnerClosedError, JobWebhookNotAllowedError } from './job-errors.js';
import { newJobId, TERMINAL_STATUSES, type JobRecord, type JobStore, type JobStoreEvent } from './job-store.js';
import { startJobTask, type JobExecute, type JobTask } from './job-task.js';
import type { JobWebhook } from './job-webhook.js';

export type { JobExecuteResult } from './job-outcome.js';
export { JobAbortError, type JobExecute, type JobStopReason } from './job-task.js';

export interface JobRunnerOptions {
  store: JobStore;
  /** Runs at once on this instance. */
  concurrency: number;
  /** Submits beyond this many queued jobs throw JobQueueFullError. */
  maxQueued: number;
  leaseMs: number;
  /** Runs a job may start (crashes and retryable failures count). */
  maxAttempts: number;
  execute: JobExecute;
  /** Absent: a submit naming a webhook URL is refused. */
  webhook?: JobWebhook;
  logger: StateLogger;
  /** This instance's lease owner name; unique per process (a restart is a new instance). */
  instanceId: string;
  /** Largest request body (JSON bytes); default 1 MiB. */
  maxRequestBytes?: number;
  /** How often to look for claimable work without an event (retries' backoff, missed events); default 1 s. */
  pollMs?: number;
  /** Backoff of a retry: this doubled per attempt, halved to full by jitter, at most `maxRetryDelayMs`; default 1 s. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Progress is written to the store at most this often per job; default 1 s. */
  progressIntervalMs?: number;
  /** Finished jobs past their TTL are deleted this often (file store); default 60 s. */
  sweepMs?: number;
  /** close() waits at most this long for aborted runs and webhooks; default 10 s. */
  closeTimeoutMs?: number;
  now?: () => number;
  random?: () => number;
}

export interface JobRunnerStats {
  running: number;
  webhooksInFlight: number;
  started: boolean;
  closing: boolean;
}

export interface JobRunner {
  /** Stores a new queued job of `owner`; throws JobQueueFullError, JobRequestTooLargeError, JobWebhookNotAllowedError. */
  submit(owner: string, team: string | undefined, request: unknown, opts?: { webhookUrl?: string }): Promise<JobRecord>;
  /** The job, if it exists and belongs to `owner`. */
  get(id: string, owner: string): Promise<JobRecord | undefined>;
  /** Cancels the job of `owner` (a finished one is returned as it is); undefined if there is none. */
  cancel(id: string, owner: string): Promise<JobRecord | undefined>;
  /** Recovery (reap, sweep), then claims work as it comes. */
  start(): Promise<void>;
  /** Stops claiming, gives running jobs back to the queue; the store stays open (the caller closes it). */
  close(): Promise<void>;
  /** Resolves once no run and no webhook is in flight (tests, drains). */
  idle(): Promise<void>;
  stats(): JobRunnerStats;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export function createJobRunner(options: JobRunnerOptions): JobRunner {
  const { store, logger, instanceId, leaseMs } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const maxRequestBytes = options.maxRequestBytes ?? 1024 * 1024;
  const pollMs = options.pollMs ?? 1_000;
  const retryDelayMs = options.retryDelayMs ?? 1_000;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 60_000;
  const progressIntervalMs = options.progressIntervalMs ?? 1_000;
  const sweepMs = options.sweepMs ?? 60_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
  const heartbeatMs = Math.max(1, Math.floor(leaseMs / 3));

  const tasks = new Map<string, JobTask>();
  const webhooks = new Set<Promise<unknown>>();
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe: (() => void) | undefined;
  let started = false;
  let closing = false;
  let closed: Promise<void> | undefined;
  let pumping: Promise<void> | undefined;
  let pumpAgain = false;
  /** Store failures are logged once per outage, not once per poll. */
  let storeFailing = false;

  const iso = () => new Date(now()).toISOString();

  const storeFailed = (what: string, err: unknown) => {
    if (storeFailing) return;
    storeFailing = true;
    logger.warn({ err: (err as Error).message, what }, 'job store unavailable; jobs wait until it is back');
  };
  const storeOk = () => {
    if (!storeFailing) return;
    storeFailing = false;
    logger.info({}, 'job store reachable again');
  };

  /** The webhook of an ended job (fire and forget; tracked so close() and idle() can wait). */
  const announce = (job: JobRecord | undefined) => {
    if (!job || !TERMINAL_STATUSES.has(job.status) || !job.webhookUrl || !options.webhook) return;
    const p = options.webhook.notify(job).catch(() => false);
    webhooks.add(p);
    void p.finally(() => webhooks.delete(p));
  };

  const onEvent = (event: JobStoreEvent) => {
    if (event.type === 'queued') return pump();
    tasks.get(event.id)?.stop('cancelled');
  };

  const backoff = (attempts: number) => Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.max(0, attempts - 1)) * (0.5 + random() / 2);

  const startTask = (job: JobRecord) => {
    const task = startJobTask(job, {
      store,
      instanceId,
      leaseMs,
      maxAttempts: options.maxAttempts,
      execute: options.execute,
      logger,
      progressIntervalMs,
      retryDelay: backoff,
      ended: announce,
    });
    tasks.set(job.id, task);
    void task.done.finally(() => {
      tasks.delete(job.id);
      pump();
    });
  };

  /** Claims while there is room; one pump at a time (a request during one makes it go round again). */
  function pump(): void {
    if (!started || closing) return;
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = (async () => {
      do {
        pumpAgain = false;
        while (!closing && tasks.size < options.concurrency) {
          let job: JobRecord | undefined;
          try {
            job = await store.claim(instanceId, leaseMs);
            storeOk();
          } catch (err) {
            storeFailed('claim', err);
            return;
          }
          if (!job) break;
          if (closing) {
            // Claimed while closing: straight back, uncounted.
            await store.release(job.id, instanceId, { delayMs: 0, uncount: true }).catch((err: Error) => logger.warn({ job: job.id, err: err.message }, 'job claimed during shutdown could not be given back; it runs again once its lease runs out'));
            return;
          }
          startTask(job);
        }
      } while (pumpAgain && !closing);
    })().finally(() => (pumping = undefined));
  }

  const reap = async () => {
    try {
      const settled = await store.reap(options.maxAttempts);
      storeOk();
      settled.forEach(announce);
    } catch (err) {
      storeFailed('reap', err);
    }
  };

  const sweep = async () => {
    try {
      await store.sweep();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'expired jobs could not be deleted');
    }
  };

  const every = (ms: number, fn: () => unknown) => {
    const t = setInterval(fn, ms);
    t.unref();
    timers.push(t);
  };

  return {
    async submit(owner, team, request, opts = {}) {
      if (closing) throw new JobRunnerClosedError();
      const bytes = Buffer.byteLength(JSON.stringify(request) ?? '');
      if (bytes > maxRequestBytes) throw new JobRequestTooLargeError(maxRequestBytes);
      const { webhookUrl } = opts;
      if (webhookUrl !== undefined) {
        if (!options.webhook) throw new JobWebhookNotAllowedError('webhooks are not configured on this router (jobs.webhook)');
        const refused = options.webhook.refusal(webhookUrl);
        if (refused) throw new JobWebhookNotAllowedError(refused);
      }
      const at = iso();
      const job: JobRecord = {
        id: newJobId(),
        owner,
        ...(team !== undefined ? { team } : {}),
        status: 'queued',
        request,
        createdAt: at,
        updatedAt: at,
        attempts: 0,
        progress: { completionTokens: 0 },
        ...(webhookUrl !== undefined ? { webhookUrl } : {}),
      };
      await store.create(job, options.maxQueued);
      pump();
      return job;
    },

    async get(id, owner) {
      const job = await store.get(id);
      if (!job || job.owner !== owner) return undefined;
      const task = tasks.get(id);
      if (task && task.tokens > job.progress.completionTokens) job.progress = { completionTokens: task.tokens };
      return job;
    },

    async cancel(id, owner) {
      const res = await store.cancel(id, owner);
      if (!res) return undefined;
      if (res.settled) announce(res.record);
      if (res.record.status === 'cancelled') tasks.get(id)?.stop('cancelled');
      return res.record;
    },

    async start() {
      if (started || closing) return;
      unsubscribe = store.onEvent(onEvent);
      if (store.kind === 'file') {
        // Local disk: a failure here is the operator's to see at start, not a degraded mode.
        (await store.reap(options.maxAttempts)).forEach(announce);
        await store.sweep();
      } else {
        await reap();
        await sweep();
      }
      started = true;
      every(pollMs, pump);
      every(heartbeatMs, () => void reap());
      every(sweepMs, () => void sweep());
      pump();
    },

    close() {
      closed ??= (async () => {
        closing = true;
        for (const t of timers) clearInterval(t);
        unsubscribe?.();
        for (const task of tasks.values()) task.stop('shutdown');
        const waits = [pumping, ...[...tasks.values()].map((t) => t.done)].filter((p): p is Promise<void> => p !== undefined);
        const deadline = sleep(closeTimeoutMs);
        await Promise.race([Promise.allSettled(waits), deadline]);
        if (tasks.size > 0) logger.warn({ jobs: [...tasks.keys()] }, 'job runs did not stop in time; they run again once their leases run out');
        await Promise.race([Promise.allSettled([...webhooks]), deadline]);
      })();
      return closed;
    },

    async idle() {
      while (tasks.size > 0 || webhooks.size > 0 || pumping) {
        await Promise.allSettled([pumping, ...[...tasks.values()].map((t) => t.done), ...webhooks]);
      }
    },

    stats: () => ({ running: tasks.size, webhooksInFlight: webhooks.size, started, closing }),
  };
}
