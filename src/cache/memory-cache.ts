/** The in-process response cache: a byte-bounded LRU (lru-cache) of entry texts. */
import { LRUCache } from 'lru-cache';
import { countLookup, decodeEntry, encodeEntry, lookupOf, newStats } from './cache-entry.js';
import type { ResponseCache } from './response-cache.js';

export interface MemoryCacheOptions {
  /** Bound on the bytes held (entries' JSON text, UTF-8, plus their keys). */
  maxBytes: number;
  /** Largest entry stored (its JSON text). */
  maxEntryBytes: number;
  /** Epoch ms clock; tests pass a fake one. */
  now?: () => number;
}

/**
 * Entries are kept as their JSON text, not as objects: the byte bound counts what is really
 * held (an object graph's size is a guess), and every hit parses its own copy, so a caller that
 * changes a served answer (an output filter masking text) never changes the cached one.
 * An entry lives `ttlMs + maxStaleMs`; past `ttlMs` it is stale.
 */
export function createMemoryCache(opts: MemoryCacheOptions): ResponseCache {
  const now = opts.now ?? Date.now;
  // `until`: the end of the stale window, checked exactly on read (lru-cache's own TTL, kept as
  // a backstop, counts an entry stale only strictly past it).
  const lru = new LRUCache<string, { text: string; until: number }>({
    maxSize: opts.maxBytes,
    sizeCalculation: (v, key) => Buffer.byteLength(v.text) + key.length,
    // Expiry is checked when read (no timers); the clock is injectable for tests.
    ttlAutopurge: false,
    ttlResolution: 0,
    perf: { now },
  });
  const stats = newStats();

  return {
    async get(key, getOpts) {
      const slot = lru.get(key);
      if (slot && now() >= slot.until) lru.delete(key);
      const text = slot && now() < slot.until ? slot.text : undefined;
      const entry = text === undefined ? undefined : decodeEntry(text);
      return countLookup(stats, entry && lookupOf(entry, now(), getOpts?.allowStale === true));
    },
    async set(key, answer, ttlMs, maxStaleMs) {
      if (!(ttlMs > 0)) return;
      let text: string;
      try {
        text = encodeEntry(answer, now() + ttlMs);
      } catch {
        stats.errors++; // not JSON-serialisable (a bigint in an extra field): never fail the request
        return;
      }
      const bytes = Buffer.byteLength(text);
      if (bytes > opts.maxEntryBytes) {
        stats.tooLarge++;
        return;
      }
      if (bytes + key.length > opts.maxBytes) {
        stats.tooLarge++;
        return;
      }
      const life = ttlMs + Math.max(0, maxStaleMs);
      lru.set(key, { text, until: now() + life }, { ttl: life });
      stats.stores++;
    },
    stats() {
      return { ...stats, entries: lru.size, bytes: lru.calculatedSize };
    },
    async close() {
      lru.clear();
    },
  };
}
