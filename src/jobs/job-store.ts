/**
 * Long jobs: the record every backend stores and the store contract the runner drives. Two
 * backends: files under `<dataDir>/jobs/` (one process; `FileJobStore`) and Redis (any number of
 * router instances; `RedisJobStore`). The runner never touches a file or a key itself.
 *
 * Ownership of a running job is a lease `{ owner: instanceId, until }`: only the lease owner may
 * renew, finish, retry or release it, and a lease passes to someone else only through the
 * reaper (expired lease → queued again) and a new claim. So a job is never run by two
 * instances at once, and an instance that stops renewing loses the job, never the job is lost.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** Statuses a job never leaves. */
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled']);

/** Why a job failed, as the caller sees it (OpenAI error fields plus the HTTP status it would have had). */
export interface JobError {
  message: string;
  type: string;
  code: string | null;
  status: number;
}

export interface JobRecord {
  /** `job_` + 32 hex digits (random); the only form a store accepts (it names a file). */
  id: string;
  /** Identity key id of the caller that submitted it: only that caller sees it. */
  owner: string;
  team?: string;
  status: JobStatus;
  /** The chat completion request body as sent (JSON). */
  request: unknown;
  createdAt: string;
  updatedAt: string;
  /** Runs started so far (a claim counts one; a clean shutdown gives it back). */
  attempts: number;
  progress: { completionTokens: number };
  /** The wire chat.completion JSON, once succeeded. */
  result?: unknown;
  error?: JobError;
  /** Called once the job ends (checked against the operator's allow-list at submit). */
  webhookUrl?: string;
  /** Who runs it and until when (epoch ms; Redis: the Redis server's clock). Present while running. */
  lease?: { owner: string; until: number };
  /** The caller asked to cancel; the status is `cancelled` from then on. */
  cancelRequested?: boolean;
  /** A queued job is not claimed before this time (epoch ms): the backoff of a retry. */
  runAfter?: number;
  /** When a finished job is deleted (ISO time): `resultTtlMs` after it ended. */
  expiresAt?: string;
}

/** How a run ended, as the runner hands it to the store. */
export type JobOutcome =
  | { status: 'succeeded'; result: unknown }
  | { status: 'failed'; error: JobError }
  /** The run stopped because the caller cancelled. */
  | { status: 'cancelled' };

/** What the store tells the runners that use it (on every instance, with Redis). */
export type JobStoreEvent =
  /** A job became claimable: idle runners claim now instead of at their next poll. */
  | { type: 'queued' }
  /** The caller cancelled a running job: the instance running it aborts the run. */
  | { type: 'cancel'; id: string };

export interface JobStore {
  readonly kind: 'file' | 'redis';
  /** Stores a new queued job; throws `JobQueueFullError` when `maxQueued` jobs already wait. */
  create(job: JobRecord, maxQueued: number): Promise<void>;
  get(id: string): Promise<JobRecord | undefined>;
  /**
   * Takes the oldest claimable queued job for `instanceId`: status running, attempts + 1, a lease
   * of `leaseMs`, progress back to 0 (a new run), all in one atomic step. Undefined when nothing
   * is claimable.
   */
  claim(instanceId: string, leaseMs: number): Promise<JobRecord | undefined>;
  /** Extends the lease (and records progress) if `instanceId` still holds it. */
  renew(id: string, instanceId: string, leaseMs: number, completionTokens: number): Promise<{ held: boolean; cancelRequested: boolean }>;
  /** Records progress (best effort, frequent: the file store keeps it in memory until the next write). */
  progress(id: string, instanceId: string, completionTokens: number): Promise<void>;
  /**
   * Ends a run the lease holder finished. A job cancelled meanwhile stays cancelled (its result
   * is dropped). Returns the final record, or undefined when the lease is no longer held.
   */
  finish(id: string, instanceId: string, outcome: JobOutcome, completionTokens: number): Promise<JobRecord | undefined>;
  /**
   * Gives a job back to the queue: `delayMs` later (a retry's backoff), and with
   * `uncount` the attempt is not counted (a clean shutdown). A job cancelled meanwhile is settled
   * as cancelled instead. Returns the record, or undefined when the lease is no longer held.
   */
  release(id: string, instanceId: string, opts: { delayMs: number; uncount: boolean }): Promise<JobRecord | undefined>;
  /**
   * Cancels a job of `owner`: a queued one at once (`settled`), a running one is marked cancelled
   * and its runner told (`{ type: 'cancel' }`); a finished one is left as it is. Undefined when
   * there is no such job of this owner.
   */
  cancel(id: string, owner: string): Promise<{ record: JobRecord; settled: boolean } | undefined>;
  /**
   * Jobs whose runner is gone (lease expired; the file store: leases of a previous process):
   * queued again while `attempts < maxAttempts`, else failed `interrupted: …`; a cancelled one
   * is settled. Returns the records this settled (failed or cancelled), for their webhooks.
   */
  reap(maxAttempts: number): Promise<JobRecord[]>;
  /** Deletes finished jobs past `expiresAt` (Redis expires them itself). Returns how many. */
  sweep(): Promise<number>;
  /** Claimable jobs (queued, including those waiting out a retry backoff). */
  queued(): Promise<number>;
  onEvent(listener: (event: JobStoreEvent) => void): () => void;
  close(): Promise<void>;
}

const JOB_ID = /^job_[0-9a-f]{32}$/;

export function newJobId(): string {
  return `job_${randomBytes(16).toString('hex')}`;
}

/** A lease owner name for this process: host, pid and a random part (a restarted process is a new instance). */
export function newInstanceId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/** Ids reach stores from URLs: anything else is simply not a job (and never a path). */
export function isJobId(id: string): boolean {
  return JOB_ID.test(id);
}

/** The reason a job whose runner died, out of attempts, fails with. */
export function interruptedError(attempts: number): JobError {
  return {
    message: `interrupted: the router stopped while it ran (${attempts} attempt${attempts === 1 ? '' : 's'})`,
    type: 'server_error',
    code: 'job_interrupted',
    status: 500,
  };
}
