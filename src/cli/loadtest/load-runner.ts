/** Runs N calls with C in flight until the count, the duration or an abort ends it. */
import type { CallResult } from './chat-call.js';

export interface LoadPlan {
  /** Calls in all (the bound when there is no duration, or it is not reached first). */
  requests: number;
  /** Calls in flight at once. */
  concurrency: number;
  /** No call starts after this long (those in flight finish). */
  durationMs?: number;
}

export interface LoadProgress {
  done: number;
  failed: number;
  elapsedMs: number;
  /** How far along, 0–1: by count, or by time when the duration ends it sooner. */
  fraction: number;
}

export interface LoadRun {
  results: CallResult[];
  wallMs: number;
  /** What ended it. */
  stoppedBy: 'requests' | 'duration' | 'interrupted';
}

export interface RunOptions {
  /** Milliseconds, monotonic. */
  now?: () => number;
  /** Stops starting calls (Ctrl-C): the run ends with what is done. */
  signal?: AbortSignal;
  /** After each call. */
  onProgress?: (p: LoadProgress) => void;
}

/** Runs `call(i)` for i = 0… as the plan allows; resolves once every started call has finished. */
export async function runLoad(plan: LoadPlan, call: (index: number) => Promise<CallResult>, opts: RunOptions = {}): Promise<LoadRun> {
  const now = opts.now ?? (() => performance.now());
  const t0 = now();
  const results: CallResult[] = [];
  let next = 0;
  let failed = 0;
  const expired = () => plan.durationMs !== undefined && now() - t0 >= plan.durationMs;
  const worker = async () => {
    while (next < plan.requests && !opts.signal?.aborted && !expired()) {
      const r = await call(next++);
      results.push(r);
      if (r.outcome !== 'ok') failed++;
      const elapsedMs = now() - t0;
      const byTime = plan.durationMs ? elapsedMs / plan.durationMs : 0;
      opts.onProgress?.({ done: results.length, failed, elapsedMs, fraction: Math.min(1, Math.max(results.length / plan.requests, byTime)) });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(plan.concurrency, plan.requests)) }, worker));
  const stoppedBy = next >= plan.requests ? 'requests' : opts.signal?.aborted ? 'interrupted' : 'duration';
  return { results, wallMs: now() - t0, stoppedBy };
}
