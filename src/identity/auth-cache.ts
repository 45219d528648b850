/**
 * Positive lookups of `authenticate` (secret hash → what was found for it), so a busy key does
 * not cost a store round trip (a Redis call) per request. Entries are dropped when the store
 * says a record changed (on any instance), and live at most `ttlMs` in case a change notice is
 * lost (a Redis reconnect). Refusals are not cached: they stay a store lookup, and revocation
 * cannot be shadowed by a stale "yes".
 *
 * The cached value is whatever the caller derives from a record (KeyService keeps the record's
 * decoded hashes and its ready-built identity); `id` is the key id change notices name. A
 * value is only ever replaced whole (a new lookup, a new value), never changed in place, so
 * anything derived from it cannot outlive the record it came from.
 */
export class AuthCache<V extends { readonly id: string }> {
  private readonly byHash = new Map<string, { value: V; at: number }>();
  private readonly hashesById = new Map<string, Set<string>>();
  /** Bumped by every invalidation: a lookup that started before one must not cache what it read. */
  private epoch = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  /** The cached value for a hash, if fresh at `nowMs` (the caller's clock reading, so it needs to read it once only). */
  get(hash: string, nowMs: number = this.now()): V | undefined {
    const hit = this.byHash.get(hash);
    if (!hit) return undefined;
    if (nowMs - hit.at >= this.ttlMs) {
      this.remove(hash, hit.value.id);
      return undefined;
    }
    return hit.value;
  }

  /** A token to pass back to `set`, taken before the store lookup starts. */
  begin(): number {
    return this.epoch;
  }

  /** Caches a lookup unless something was invalidated since `begin` (it may be stale already). */
  set(hash: string, value: V, token: number): void {
    if (token !== this.epoch || this.ttlMs <= 0 || this.maxEntries <= 0) return;
    if (!this.byHash.has(hash) && this.byHash.size >= this.maxEntries) {
      // Maps iterate in insertion order: the first entry is the oldest.
      const oldest = this.byHash.entries().next().value;
      if (oldest) this.remove(oldest[0], oldest[1].value.id);
    }
    this.byHash.set(hash, { value, at: this.now() });
    let set = this.hashesById.get(value.id);
    if (!set) this.hashesById.set(value.id, (set = new Set()));
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
