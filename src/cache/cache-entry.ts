/** The stored form of a cached answer, shared by both backends. */
import type { CacheLookup, CacheStats, CachedAnswer } from './response-cache.js';

/** One stored entry: the answer and when it stops being fresh (epoch ms). */
export interface StoredEntry {
  answer: CachedAnswer;
  freshUntil: number;
}

/** The entry's JSON text (what is stored, and what its size is counted on). */
export function encodeEntry(answer: CachedAnswer, freshUntil: number): string {
  const entry: StoredEntry = { answer, freshUntil };
  return JSON.stringify(entry);
}

/** Reads a stored text back; undefined when it is not an entry (another writer, a corrupt value). */
export function decodeEntry(text: string): StoredEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Partial<StoredEntry>;
  const a = e.answer as Partial<CachedAnswer> | undefined;
  if (typeof e.freshUntil !== 'number' || typeof a !== 'object' || a === null) return undefined;
  if (typeof a.storedAt !== 'number' || typeof a.route !== 'string') return undefined;
  if (typeof a.response !== 'object' || a.response === null || !Array.isArray(a.response.choices)) return undefined;
  return e as StoredEntry;
}

/** The lookup an entry gives at `now`, or undefined when it is stale and stale was not asked for. */
export function lookupOf(entry: StoredEntry, now: number, allowStale: boolean): CacheLookup | undefined {
  const stale = now >= entry.freshUntil;
  if (stale && !allowStale) return undefined;
  return { answer: entry.answer, stale, ageMs: Math.max(0, now - entry.answer.storedAt) };
}

/** Counters both backends keep. */
export function newStats(): CacheStats {
  return { hits: 0, misses: 0, staleHits: 0, stores: 0, tooLarge: 0, errors: 0 };
}

/** Counts a lookup's outcome and passes it on. */
export function countLookup(stats: CacheStats, found: CacheLookup | undefined): CacheLookup | undefined {
  if (!found) stats.misses++;
  else if (found.stale) stats.staleHits++;
  else stats.hits++;
  return found;
}
