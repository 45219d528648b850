import type { BatchQueueStats } from './batch-queue.js';
import type { FailoverLimiterStats } from './failover-limiter.js';
import type { RedisConnection } from './redis/redis-connection.js';
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
  /** The absolute data folder (files of the memory backend, spills of the Redis one). */
  readonly dataDir: string;
  /**
   * Redis only: the backend's connection and key prefix, for the modules that keep their own
   * state there too (sessions, cache, jobs, stream buffers). Closed with the backend.
   */
  readonly redis?: { connection: RedisConnection; keyPrefix: string };
}
