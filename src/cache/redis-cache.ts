/** The shared response cache on Redis: one string key per answer, `SET key value PX ms`. */
import type { RedisConnection } from '../state/redis/redis-connection.js';
import { countLookup, decodeEntry, encodeEntry, lookupOf, newStats } from './cache-entry.js';
import type { ResponseCache } from './response-cache.js';

export interface RedisCacheOptions {
  /** A connection owned by the caller (the state backend's, or one of the cache's own). */
  connection: RedisConnection;
  /** Prefix of every key, e.g. "llm-router:cache:". */
  keyPrefix: string;
  /** Largest entry stored (its JSON text). */
  maxEntryBytes: number;
  /** Epoch ms clock; tests pass a fake one. */
  now?: () => number;
}

/**
 * Values are the entry's JSON (`{answer, freshUntil}`), expiring after `ttlMs + maxStaleMs`.
 * Freshness is the absolute `freshUntil`, so one GET answers a lookup (instances' clocks are
 * assumed close, as they are for the limiter's periods). Redis evicts by its own maxmemory policy.
 *
 * Failures follow `RedisConnection.run` (not connected, too many waiting, no answer within
 * commandTimeoutMs): a lookup is then a miss and a store is skipped, both counted in `errors`:
 * the cache never fails or slows a request beyond the command timeout. An unreadable value is a
 * miss too (counted), left to expire.
 */
export function createRedisCache(opts: RedisCacheOptions): ResponseCache {
  const now = opts.now ?? Date.now;
  const stats = newStats();
  let closed = false;
  const redisKey = (key: string) => `${opts.keyPrefix}${key}`;

  return {
    async get(key, getOpts) {
      if (closed) return countLookup(stats, undefined);
      let text: string | null;
      try {
        text = await opts.connection.run('cache get', (c) => c.get(redisKey(key)));
      } catch {
        stats.errors++;
        return countLookup(stats, undefined);
      }
      if (text === null) return countLookup(stats, undefined);
      const entry = decodeEntry(text);
      if (!entry) stats.errors++;
      return countLookup(stats, entry && lookupOf(entry, now(), getOpts?.allowStale === true));
    },
    async set(key, answer, ttlMs, maxStaleMs) {
      if (closed || !(ttlMs > 0)) return;
      let text: string;
      try {
        text = encodeEntry(answer, now() + ttlMs);
      } catch {
        stats.errors++;
        return;
      }
      if (Buffer.byteLength(text) > opts.maxEntryBytes) {
        stats.tooLarge++;
        return;
      }
      const px = Math.ceil(ttlMs + Math.max(0, maxStaleMs));
      try {
        await opts.connection.run('cache set', (c) => c.set(redisKey(key), text, 'PX', px));
        stats.stores++;
      } catch {
        stats.errors++;
      }
    },
    stats() {
      return { ...stats };
    },
    async close() {
      closed = true;
    },
  };
}
