/** Timings of the worker supervision; defaults suit production, tests shorten them. */
import type { WorkerExit } from './worker-process.js';

export interface LlamaTuning {
  /** How often a live worker is pinged. */
  healthIntervalMs: number;
  /** A worker that does not answer a ping within this is killed and restarted. */
  healthTimeoutMs: number;
  /** A worker that has not finished booting (bindings loaded) within this is killed. */
  startTimeoutMs: number;
  /** First restart delay after a crash; doubles per consecutive crash. */
  restartBaseMs: number;
  restartMaxMs: number;
  /** Time a worker gets to exit on close before it is killed. */
  shutdownGraceMs: number;
  /** Worker script override (tests). */
  workerPath?: string;
  /** How long the first embeddings request of a batch waits for others to join it. */
  embedBatchWindowMs: number;
  /** Texts in one embeddings batch (a request with more goes alone). */
  embedMaxBatchTexts: number;
}

export const DEFAULT_TUNING: LlamaTuning = {
  healthIntervalMs: 15_000,
  healthTimeoutMs: 5_000,
  startTimeoutMs: 60_000,
  restartBaseMs: 250,
  restartMaxMs: 30_000,
  shutdownGraceMs: 2_000,
  embedBatchWindowMs: 3,
  embedMaxBatchTexts: 256,
};

/** "exited with code 134 (SIGABRT): GGML_ASSERT(...) failed" and the like, for errors and logs. */
export function describeExit(exit: WorkerExit): string {
  const how = exit.killedFor
    ? `was killed (${exit.killedFor})`
    : exit.signal
      ? `died of ${exit.signal}`
      : `exited with code ${exit.code ?? 'unknown'}`;
  const lastLine = exit.stderrTail.split('\n').filter((line) => line.trim() !== '').slice(-2).join(' | ');
  return lastLine ? `${how}: ${lastLine.slice(0, 300)}` : how;
}
