/**
 * One run of one job on this instance: the injected `execute` under an AbortSignal, a
 * heartbeat renewing the lease every `leaseMs / 3`, progress notes, and the store write of how
 * it ended. The pool around it (claims, concurrency, shutdown) is job-runner.ts.
 *
 * Fencing: a run stops itself (`lease_lost`) when the store says the lease is gone, or at the
 * first heartbeat more than half a lease after the last renewal that succeeded (measured from
 * when it was sent, on the monotonic clock), so it has stopped well before the lease can run
 * out and the reaper can give the job to someone else. A failed renewal is tried again after a
 * quarter of the heartbeat interval, so a blip shorter than ~1/6 of a lease costs nothing.
 * After a lost lease the run touches nothing in the store.
 */
import { performance } from 'node:perf_hooks';

import type { StateLogger } from '../state/state-logger.js';
import { judgeExecution, type JobExecuteResult, type JobVerdict } from './job-outcome.js';
import type { JobOutcome, JobRecord, JobStore } from './job-store.js';

/**
 * Runs one job's request through the router's normal path, honouring `signal`, reporting the
 * completion tokens generated so far through `progress`, and answering what the router would
 * have answered over HTTP.
 */
export type JobExecute = (job: JobRecord, signal: AbortSignal, progress: (completionTokens: number) => void) => Promise<JobExecuteResult>;

/** Why a run was stopped from outside: `signal.reason` of the run is a `JobAbortError`. */
export type JobStopReason = 'cancelled' | 'lease_lost' | 'shutdown';

export class JobAbortError extends Error {
  constructor(readonly reason: JobStopReason) {
    super(`job run stopped: ${reason}`);
    this.name = 'AbortError';
  }
}

export interface JobTaskDeps {
  store: JobStore;
  instanceId: string;
  leaseMs: number;
  maxAttempts: number;
  execute: JobExecute;
  logger: StateLogger;
  progressIntervalMs: number;
  /** Backoff before retry number `attempts` (ms). */
  retryDelay: (attempts: number) => number;
  /** Told of every job this run leaves ended (for its webhook). */
  ended: (job: JobRecord | undefined) => void;
}

export interface JobTask {
  readonly job: JobRecord;
  /** Completion tokens reported so far. */
  readonly tokens: number;
  /** Aborts the run; the first reason wins (a lost lease is never overruled by a cancel). */
  stop(reason: JobStopReason): void;
  /** Settles once the run ended and its outcome was written (or given up on); never rejects. */
  readonly done: Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export function startJobTask(job: JobRecord, deps: JobTaskDeps): JobTask {
  const { store, instanceId, leaseMs, logger } = deps;
  const heartbeatMs = Math.max(1, Math.floor(leaseMs / 3));
  // Ticks come every third of a lease: the one near 2/3 is the last before the lease could run
  // out, and a threshold halfway keeps it the deciding one even when timers drift.
  const fenceMs = leaseMs / 2;
  const controller = new AbortController();
  let stopped: JobStopReason | undefined;
  let tokens = job.progress.completionTokens;
  let renewedAt = performance.now();
  let renewing = false;
  let lastProgressWrite = 0;
  let progressWriting = false;
  let retry: NodeJS.Timeout | undefined;

  const stop = (reason: JobStopReason) => {
    if (stopped) return;
    stopped = reason;
    controller.abort(new JobAbortError(reason));
  };

  const heartbeat = async () => {
    if (stopped === 'lease_lost') return;
    // Checked before anything else: a renewal still hanging must not keep the run going.
    if (performance.now() - renewedAt >= fenceMs) {
      logger.warn({ job: job.id }, 'job lease could not be renewed in time; run stopped so that no other instance runs it at the same time');
      return stop('lease_lost');
    }
    if (renewing) return;
    renewing = true;
    const sentAt = performance.now();
    try {
      const { held, cancelRequested } = await store.renew(job.id, instanceId, leaseMs, tokens);
      if (!held) {
        logger.warn({ job: job.id }, 'job lease lost; run stopped (another instance may take it up)');
        return stop('lease_lost');
      }
      renewedAt = sentAt;
      if (cancelRequested) stop('cancelled');
    } catch (err) {
      logger.warn({ job: job.id, err: (err as Error).message }, 'job lease renewal failed');
      // Tried again well before the next tick, so one blip does not cost the run.
      clearTimeout(retry);
      retry = setTimeout(() => void heartbeat(), Math.max(1, Math.floor(heartbeatMs / 4)));
      retry.unref();
    } finally {
      renewing = false;
    }
  };

  const progress = (completionTokens: number) => {
    if (!Number.isFinite(completionTokens) || completionTokens <= tokens) return;
    tokens = completionTokens;
    const t = performance.now();
    if (progressWriting || stopped || t - lastProgressWrite < deps.progressIntervalMs) return;
    lastProgressWrite = t;
    progressWriting = true;
    store
      .progress(job.id, instanceId, completionTokens)
      .catch(() => undefined) // a courtesy; the heartbeat reports a failing store
      .finally(() => (progressWriting = false));
  };

  /**
   * A store write of the run's end, tried again briefly (a blip must not cost a whole re-run).
   * Undefined when the lease was no longer held, or the write kept failing (both logged).
   */
  const persist = async (what: string, write: () => Promise<JobRecord | undefined>): Promise<JobRecord | undefined> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const record = await write();
        if (!record) logger.warn({ job: job.id, what }, 'job outcome dropped: this instance no longer held its lease');
        return record;
      } catch (err) {
        if (attempt >= 3 || stopped === 'lease_lost') {
          logger.error({ job: job.id, err: (err as Error).message, what }, 'job outcome could not be stored; it runs again once its lease runs out');
          return undefined;
        }
        await sleep(200 * 3 ** (attempt - 1));
      }
    }
  };

  const settle = async (verdict: JobVerdict): Promise<JobRecord | undefined> => {
    if (stopped === 'lease_lost') return undefined; // someone else may own it now: touch nothing
    if (stopped === 'shutdown') return persist('release', () => store.release(job.id, instanceId, { delayMs: 0, uncount: true }));
    if (stopped === 'cancelled') return persist('finish', () => store.finish(job.id, instanceId, { status: 'cancelled' }, tokens));
    if (verdict.kind === 'retry' && job.attempts < deps.maxAttempts) {
      const delayMs = deps.retryDelay(job.attempts);
      logger.warn({ job: job.id, attempts: job.attempts, status: verdict.error.status, code: verdict.error.code, delayMs: Math.round(delayMs) }, 'job run failed; it will be tried again');
      return persist('retry', () => store.release(job.id, instanceId, { delayMs, uncount: false }));
    }
    const outcome: JobOutcome = verdict.kind === 'succeeded' ? { status: 'succeeded', result: verdict.result } : { status: 'failed', error: verdict.error };
    return persist('finish', () => store.finish(job.id, instanceId, outcome, tokens));
  };

  const run = async () => {
    let verdict: JobVerdict;
    try {
      const result = await Promise.resolve().then(() => deps.execute(structuredClone(job), controller.signal, progress));
      verdict = judgeExecution({ result });
    } catch (err) {
      if (!stopped) logger.warn({ job: job.id, err: (err as Error).message }, 'job run threw');
      verdict = judgeExecution({ thrown: err });
    }
    deps.ended(await settle(verdict));
  };

  const timer = setInterval(() => void heartbeat(), heartbeatMs);
  timer.unref();
  // A cancel may have arrived between the claim and now.
  if (job.cancelRequested) stop('cancelled');
  const done = run()
    .catch((err: unknown) => logger.error({ job: job.id, err: (err as Error).message }, 'job run failed'))
    .finally(() => {
      // Only now: the lease is kept while the outcome is written.
      clearInterval(timer);
      clearTimeout(retry);
    });

  return {
    job,
    get tokens() {
      return tokens;
    },
    stop,
    done,
  };
}
