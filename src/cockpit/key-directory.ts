import type { KeyView } from '../identity/key-view.js';

/** What the dashboard needs of the key service (src/identity/key-service.ts). */
export interface KeyAdmin {
  list(): Promise<KeyView[]>;
  revoke(id: string): Promise<KeyView>;
}

export interface KeyDirectory {
  /** The keys, from a list at most `ttlMs` old (empty while the key service is not open). */
  keys(): Promise<readonly KeyView[]>;
  /** Forget the cached list (after a revoke). */
  invalidate(): void;
}

/**
 * The key list, cached for a few seconds: the live view names keys and teams once a second per
 * open dashboard, and a list of every key from Redis is not worth reading that often. A failed
 * list keeps the last good one.
 */
export function createKeyDirectory(service: () => KeyAdmin | undefined, opts: { ttlMs?: number; now?: () => number } = {}): KeyDirectory {
  const ttlMs = opts.ttlMs ?? 10_000;
  const now = opts.now ?? Date.now;
  let cached: { at: number; keys: readonly KeyView[] } | undefined;
  let pending: Promise<readonly KeyView[]> | undefined;

  return {
    keys() {
      if (cached && now() - cached.at < ttlMs) return Promise.resolve(cached.keys);
      const s = service();
      if (!s) return Promise.resolve(cached?.keys ?? []);
      pending ??= s
        .list()
        .then(
          (keys) => {
            cached = { at: now(), keys };
            return keys;
          },
          () => cached?.keys ?? [],
        )
        .finally(() => (pending = undefined));
      return pending;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
