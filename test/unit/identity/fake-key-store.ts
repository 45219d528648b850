import type { KeyRecord, KeyStore } from '../../../src/state/types.js';

/**
 * A tiny in-memory KeyStore for identity tests (the real backends live under src/state/).
 * Records are deep-copied in and out like a real store serialises them; `notify: false`
 * simulates lost change notices; `calls` counts lookups.
 */
export class FakeKeyStore implements KeyStore {
  readonly records = new Map<string, KeyRecord>();
  readonly calls = { get: 0, findByHash: 0, list: 0, put: 0 };
  private readonly listeners = new Set<(id: string) => void>();
  notify = true;

  async get(id: string): Promise<KeyRecord | undefined> {
    this.calls.get++;
    const r = this.records.get(id);
    return r && structuredClone(r);
  }

  async findByHash(hash: string): Promise<KeyRecord | undefined> {
    this.calls.findByHash++;
    for (const r of this.records.values()) if (r.secrets.some((s) => s.hash === hash)) return structuredClone(r);
    return undefined;
  }

  async list(): Promise<KeyRecord[]> {
    this.calls.list++;
    return [...this.records.values()].map((r) => structuredClone(r));
  }

  async put(record: KeyRecord): Promise<void> {
    this.calls.put++;
    this.records.set(record.id, structuredClone(record));
    if (this.notify) for (const l of this.listeners) l(record.id);
  }

  onChange(listener: (id: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {}
}

/** A clock tests move by hand. */
export function manualClock(start = Date.parse('2025-06-01T00:00:00Z')): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

/** A server secret for tests (≥ 32 characters). */
export const SERVER_SECRET = 'test-server-secret-0123456789abcdefghij';
