/**
 * The response cache: exact-match answers by `cacheKey`, with a TTL per route and stale serving
 * for the degradation ladder. Two backends behind one interface: memory (this process, bounded
 * by bytes) and Redis (shared by every instance). Neither ever fails a request: a store that
 * cannot answer is a miss, counted in `errors`.
 */
import type { ChatResponse } from '../core/chat-response.js';

/** What is stored for a key. */
export interface CachedAnswer {
  response: ChatResponse;
  /** Epoch ms when the answer was produced (its age is counted from here). */
  storedAt: number;
  /** Route that produced it. */
  route: string;
  /** The target that produced it (for the cost a hit saves). */
  target?: { provider: string; model: string };
}

/** A hit. */
export interface CacheLookup {
  answer: CachedAnswer;
  /** Past its TTL, inside maxStaleMs: only returned with `allowStale`. */
  stale: boolean;
  /** now − storedAt, for an `age` header and metrics. */
  ageMs: number;
}

/** Counters since start, for metrics. */
export interface CacheStats {
  /** Fresh answers returned. */
  hits: number;
  /** Lookups that returned nothing (errors included). */
  misses: number;
  /** Stale answers returned (lookups with `allowStale` only). */
  staleHits: number;
  /** Answers stored. */
  stores: number;
  /** Answers not stored because they exceed maxEntryBytes. */
  tooLarge: number;
  /** Store failures (Redis unreachable or slow, an unreadable entry); each is a miss or a skipped store. */
  errors: number;
  /** Entries held (memory backend only). */
  entries?: number;
  /** Bytes held, as counted against maxBytes (memory backend only). */
  bytes?: number;
}

export interface ResponseCache {
  /** The answer under `key`: fresh, or stale too with `allowStale`. Never rejects. */
  get(key: string, opts?: { allowStale?: boolean }): Promise<CacheLookup | undefined>;
  /**
   * Stores an answer, fresh for `ttlMs` and kept `maxStaleMs` longer for stale serving; both
   * counted from now. Too large (maxEntryBytes) or a failing store: not stored. Never rejects.
   */
  set(key: string, answer: CachedAnswer, ttlMs: number, maxStaleMs: number): Promise<void>;
  stats(): CacheStats;
  /** Drops what the memory backend holds; the Redis backend leaves the connection to its owner. */
  close(): Promise<void>;
}

export { createMemoryCache, type MemoryCacheOptions } from './memory-cache.js';
export { createRedisCache, type RedisCacheOptions } from './redis-cache.js';
