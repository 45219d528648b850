/**
 * The state module: virtual keys, limits and budgets, usage records (later: sessions, cache,
 * jobs), each behind one interface of `types.ts` with a memory and a Redis backend.
 */
import path from 'node:path';

import { createMemoryBackend } from './memory/memory-backend.js';
import { resolveRedisTls } from './redis/redis-tls.js';
import { silentLogger, type StateLogger } from './state-logger.js';
import type { StateConfig } from './state-schema.js';
import type { ObservableStateBackend } from './state-stats.js';

export * from './types.js';
export { stateSchema, redisSchema, type StateConfig, type RedisStateConfig } from './state-schema.js';
export type { StateLogger } from './state-logger.js';
export type { ObservableStateBackend, StateStats } from './state-stats.js';
export type { FailoverLimiterStats } from './failover-limiter.js';
export { TOTAL_PERIOD_RESET_MS, CONCURRENCY_RETRY_MS } from './buckets.js';
export { KeysFileError } from './memory/file-key-store.js';

/** What the factory needs from its surroundings. */
export interface StateBackendContext {
  /** Folder of the config file: a relative `dataDir` is resolved against it. */
  baseDir: string;
  logger?: StateLogger;
  /** Clock in epoch ms (tests); Redis scripts use the Redis server's clock regardless. */
  now?: () => number;
}

/**
 * Opens the configured backend. Rejects only for what must stop the start (a corrupt keys
 * file: `KeysFileError`, an unreadable Redis TLS file); an unreachable Redis is not one of
 * them (degraded start, see `createRedisBackend`).
 */
export async function createStateBackend(config: StateConfig, context: StateBackendContext): Promise<ObservableStateBackend> {
  const dataDir = path.resolve(context.baseDir, config.dataDir);
  const logger = context.logger ?? silentLogger;
  if (config.backend === 'memory') return createMemoryBackend({ dataDir, logger, now: context.now });
  if (!config.redis) throw new Error('state.redis is required when state.backend is redis');
  const redis = resolveRedisTls(config.redis, context.baseDir);
  // ioredis (~15 MiB of the router's idle RSS) is loaded only by a router on the Redis backend.
  const { createRedisBackend } = await import('./redis/redis-backend.js');
  return createRedisBackend(redis, { dataDir, onUnavailable: config.onUnavailable, logger, now: context.now });
}
