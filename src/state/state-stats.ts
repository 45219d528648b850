import type { BatchQueueStats } from './batch-queue.js';
import type { FailoverLimiterStats } from './failover-limiter.js';
import type { StateBackend } from './types.js';

/** Counters of a state backend, for /metrics. */
export interface StateStats {
  /** The usage sink's queue: queued, written, dropped (queue full), failed (write errors); spilled: Redis batches sent to the local ledger. */
  usage: BatchQueueStats & { spilled?: number };
  /** Redis only: where limits come from and how often the fallback answered. */
  limiter?: FailoverLimiterStats;
  /** Redis only: calls waiting for a reply. */
  redisInFlight?: number;
}

/** A backend as `createStateBackend` returns it: the contract plus counters. */
export interface ObservableStateBackend extends StateBackend {
  stats(): StateStats;
}
