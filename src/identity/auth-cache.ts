import type { KeyRecord } from '../state/types.js';

/**
 * Positive lookups of `authenticate` (secret hash → record), so a busy key does not cost a
 * store round trip (a Redis call) per request. Entries are dropped when the store says a record
 * changed (on any instance), and live at most `ttlMs` in case a change notice is lost (a Redis
 * reconnect). Refusals are not cached: they stay a store lookup, and revocation cannot be
 * shadowed by a stale "yes".
 */
export class AuthCache {
  private readonly byHash = new Map<string, { record: KeyRecord; at: number }>();
  private readonly hashesById = new Map<string, Set<string>>();
  /** Bumped by every invalidation: a lookup that started before one must not cache what it read. */
  private epoch = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  /** The cached record for a hash, if fresh. */
  get(hash: string): KeyRecord | undefined {
    const hit = this.byHash.get(hash);
    if (!hit) return undefined;
    if (this.now() - hit.at >= this.ttlMs) {
      this.remove(hash, hit.record.id);
      return undefined;
    }
    return hit.record;
  }

  /** A token to pass back to `set`, taken before the store lookup starts. */
  begin(): number {
    return this.epoch;
  }

  /** Caches a lookup unless something was invalidated since `begin` (it may be stale already). */
  set(hash: string, record: KeyRecord, token: number): void {
    if (token !== this.epoch || this.ttlMs <= 0 || this.maxEntries <= 0) return;
    if (!this.byHash.has(hash) && this.byHash.size >= this.maxEntries) {
      // Maps iterate in insertion order: the first entry is the oldest.
      const oldest = this.byHash.entries().next().value;
      if (oldest) this.remove(oldest[0], oldest[1].record.id);
    }
    this.byHash.set(hash, { record, at: this.now() });
    let set = this.hashesById.get(record.id);
    if (!set) this.hashesById.set(record.id, (set = new Set()));
    set.add(hash);
  }

  /** Drops every entry of key `id`. */
  invalidate(id: string): void {
    this.epoch++;
    const set = this.hashesById.get(id);
    if (!set) return;
    for (const h of set) this.byHash.delete(h);
    this.hashesById.delete(id);
  }

  clear(): void {
    this.epoch++;
    this.byHash.clear();
    this.hashesById.clear();
  }

  get size(): number {
    return this.byHash.size;
  }

  private remove(hash: string, id: string): void {
    this.byHash.delete(hash);
    const set = this.hashesById.get(id);
    set?.delete(hash);
    if (set && set.size === 0) this.hashesById.delete(id);
  }
}
