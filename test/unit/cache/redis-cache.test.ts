/** The Redis cache against the shared test Redis (127.0.0.1:6379), under a prefix of this run that is deleted at the end. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createRedisCache } from '../../../src/cache/response-cache.js';
import { RedisConnection } from '../../../src/state/redis/redis-connection.js';
import { redisSchema } from '../../../src/state/state-schema.js';
import { deletePrefix, TEST_REDIS_URL } from '../state/redis-test-support.js';
import { cachedAnswer, fakeClock } from './cache-fixtures.js';

const prefix = `llm-router-test:${process.pid}-${Date.now()}:cache:`;
let connection: RedisConnection;

beforeAll(async () => {
  connection = new RedisConnection(redisSchema.parse({ url: TEST_REDIS_URL }));
  expect(await connection.waitReady(5_000)).toBe(true);
});

afterAll(async () => {
  await connection.close();
  await deletePrefix(TEST_REDIS_URL, prefix);
});

let n = 0;
/** A cache under a prefix of its own (so tests do not see each other's keys). */
function open(opts: { maxEntryBytes?: number; now?: () => number } = {}) {
  const keyPrefix = `${prefix}${n++}:`;
  return { keyPrefix, cache: createRedisCache({ connection, keyPrefix, maxEntryBytes: opts.maxEntryBytes ?? 64 * 1024, now: opts.now }) };
}

describe('redis cache', () => {
  it('stores under the prefix with SET PX and reads it back', async () => {
    const clock = fakeClock();
    const { cache, keyPrefix } = open({ now: clock.now });
    await cache.set('k', cachedAnswer('four', clock.now()), 60_000, 30_000);
    const pttl = await connection.client.pttl(`${keyPrefix}k`);
    expect(pttl).toBeGreaterThan(85_000);
    expect(pttl).toBeLessThanOrEqual(90_000);
    expect(JSON.parse((await connection.client.get(`${keyPrefix}k`))!)).toMatchObject({ freshUntil: clock.now() + 60_000 });
    clock.advance(10);
    expect(await cache.get('k')).toEqual({ answer: cachedAnswer('four', 1_000_000), stale: false, ageMs: 10 });
    expect(await cache.get('nope')).toBeUndefined();
    expect(cache.stats()).toEqual({ hits: 1, misses: 1, staleHits: 0, stores: 1, tooLarge: 0, errors: 0 });
  });

  it('serves a stale answer only when asked', async () => {
    const clock = fakeClock();
    const { cache } = open({ now: clock.now });
    await cache.set('k', cachedAnswer('four', clock.now()), 1_000, 60_000);
    clock.advance(1_500);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.get('k', { allowStale: true })).toMatchObject({ stale: true, ageMs: 1_500 });
    expect(cache.stats()).toMatchObject({ misses: 1, staleHits: 1, hits: 0 });
  });

  it('lets Redis expire the entry after ttl + maxStale', async () => {
    const { cache } = open();
    await cache.set('k', cachedAnswer('four', Date.now()), 30, 30);
    expect(await cache.get('k', { allowStale: true })).toBeDefined();
    await new Promise((r) => setTimeout(r, 120));
    expect(await cache.get('k', { allowStale: true })).toBeUndefined();
  });

  it('skips an entry over maxEntryBytes', async () => {
    const { cache, keyPrefix } = open({ maxEntryBytes: 1_024 });
    await cache.set('k', cachedAnswer('x'.repeat(2_000)), 60_000, 0);
    expect(await connection.client.exists(`${keyPrefix}k`)).toBe(0);
    expect(cache.stats()).toMatchObject({ stores: 0, tooLarge: 1 });
  });

  it('treats an unreadable value as a counted miss', async () => {
    const { cache, keyPrefix } = open();
    await connection.client.set(`${keyPrefix}bad`, 'not json', 'PX', 60_000);
    await connection.client.set(`${keyPrefix}alien`, '{"some":"thing"}', 'PX', 60_000);
    expect(await cache.get('bad')).toBeUndefined();
    expect(await cache.get('alien', { allowStale: true })).toBeUndefined();
    expect(cache.stats()).toMatchObject({ misses: 2, errors: 2 });
  });
});

describe('redis cache with Redis down', () => {
  it('misses and skips stores without throwing, and counts the errors', async () => {
    const down = new RedisConnection(redisSchema.parse({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 }));
    try {
      const cache = createRedisCache({ connection: down, keyPrefix: `${prefix}down:`, maxEntryBytes: 64 * 1024 });
      const started = performance.now();
      await expect(cache.set('k', cachedAnswer('four'), 60_000, 0)).resolves.toBeUndefined();
      await expect(cache.get('k')).resolves.toBeUndefined();
      await expect(cache.get('k', { allowStale: true })).resolves.toBeUndefined();
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(cache.stats()).toEqual({ hits: 0, misses: 2, staleHits: 0, stores: 0, tooLarge: 0, errors: 3 });
    } finally {
      await down.close();
    }
  });
});
