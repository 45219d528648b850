import { Redis } from 'ioredis';

import { createStateBackend, stateSchema, type StateConfig } from '../../../src/state/index.js';
import type { RedisKeyStore } from '../../../src/state/redis/redis-key-store.js';
import type { StateLogger } from '../../../src/state/state-logger.js';
import type { ObservableStateBackend } from '../../../src/state/state-stats.js';

/** The shared test Redis; never restarted or flushed by tests, only our prefix is touched. */
export const TEST_REDIS_URL = 'redis://127.0.0.1:6379';

/** A prefix unique to this test run, under which everything a test writes lives. */
export function runPrefix(tag: string): string {
  return `llm-router-test:${tag}:${process.pid}-${Date.now()}:`;
}

/** A Redis state config with test-friendly defaults. */
export function redisStateConfig(url: string, keyPrefix: string, extra: Record<string, unknown> = {}, onUnavailable = 'fail-open'): StateConfig {
  return stateSchema.parse({ backend: 'redis', dataDir: 'data', onUnavailable, redis: { url, keyPrefix, ...extra } });
}

/** Opens a Redis backend and waits until its key-change channel listens, so no change goes unseen. */
export async function openRedisBackend(config: StateConfig, baseDir: string, logger?: StateLogger, waitSubscribedMs = 2_000): Promise<ObservableStateBackend> {
  const backend = await createStateBackend(config, { baseDir, logger });
  if (waitSubscribedMs > 0) await (backend.keys as RedisKeyStore).whenSubscribed(waitSubscribedMs);
  return backend;
}

/** Deletes every key under `prefix` (SCAN + DEL, never FLUSHDB: the server is shared). */
export async function deletePrefix(url: string, prefix: string): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1_000);
      cursor = next;
      if (keys.length > 0) deleted += await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return deleted;
}
