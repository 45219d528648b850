import path from 'node:path';

import { FailoverLimiter } from '../failover-limiter.js';
import { MemoryLimiter } from '../memory/memory-limiter.js';
import { UsageLedger } from '../memory/usage-ledger.js';
import type { StateLogger } from '../state-logger.js';
import type { RedisStateConfig } from '../state-schema.js';
import type { ObservableStateBackend } from '../state-stats.js';
import { RedisConnection } from './redis-connection.js';
import { RedisKeyStore } from './redis-key-store.js';
import { RedisLimiter } from './redis-limiter.js';
import { RedisUsageSink } from './redis-usage.js';

/** What the Redis backend needs besides its connection settings. */
export interface RedisBackendOptions {
  /** Absolute data folder: usage records spill to `<dataDir>/usage` while Redis is down. */
  dataDir: string;
  onUnavailable: 'fail-open' | 'fail-closed';
  logger: StateLogger;
  /** Clock of the local fallback buckets and of secret grace checks (Redis scripts use Redis TIME). */
  now?: () => number;
  /** Approximate cap of the usage stream (XADD MAXLEN ~). */
  usageMaxLen?: number;
  /** How long the limiter skips Redis after a failed call on a live connection (default 1 s). */
  limiterCoolDownMs?: number;
}

/**
 * State shared by every router instance on one Redis. Start-up waits up to
 * `connectTimeoutMs` for the first connection and then goes on degraded if there is none:
 * limits follow `onUnavailable`, key look-ups reject with StateUnavailableError (the caller's
 * cache decides), usage records spill to the local ledger; reconnection is automatic.
 */
export async function createRedisBackend(config: RedisStateConfig, options: RedisBackendOptions): Promise<ObservableStateBackend> {
  const { logger } = options;
  const conn = new RedisConnection(config, logger);
  if (!(await conn.waitReady(config.connectTimeoutMs))) {
    logger.warn({ url: redactUrl(config.url) }, `Redis not reachable within ${config.connectTimeoutMs} ms; starting degraded (${options.onUnavailable})`);
  }
  const keys = new RedisKeyStore(conn, config.keyPrefix, { logger, now: options.now });
  const limiter = new FailoverLimiter(new RedisLimiter(conn, config.keyPrefix), new MemoryLimiter({ now: options.now }), {
    onUnavailable: options.onUnavailable,
    healthy: () => conn.healthy(),
    logger,
    coolDownMs: options.limiterCoolDownMs,
  });
  const spill = new UsageLedger({ dir: path.join(options.dataDir, 'usage'), logger });
  const usage = new RedisUsageSink(conn, config.keyPrefix, { spill, logger, maxLen: options.usageMaxLen });
  return {
    kind: 'redis',
    dataDir: options.dataDir,
    redis: { connection: conn, keyPrefix: config.keyPrefix },
    keys,
    limiter,
    usage,
    healthy: () => conn.healthy(),
    stats: () => ({ usage: usage.stats(), limiter: limiter.stats(), redisInFlight: conn.inFlight() }),
    async close() {
      await usage.close();
      await keys.close();
      await limiter.close();
      await conn.close();
    },
  };
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
