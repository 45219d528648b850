import type { KeyRecord, UsageRecord } from '../../../src/state/types.js';

/** A key record with one secret per hash given. */
export function keyRecord(id: string, hashes: string[], extra: Partial<KeyRecord> = {}): KeyRecord {
  return {
    id,
    name: `name of ${id}`,
    createdAt: '2026-01-01T00:00:00.000Z',
    secrets: hashes.map((hash) => ({ hash, prefix: `sk-rt-${hash.slice(0, 4)}`, createdAt: '2026-01-01T00:00:00.000Z' })),
    source: 'api',
    ...extra,
  };
}

/** A usage record; fields overridable. */
export function usageRecord(extra: Partial<UsageRecord> = {}): UsageRecord {
  return {
    time: '2026-03-01T12:00:00.000Z',
    requestId: 'req',
    route: 'chat',
    tokens: { prompt: 10, completion: 5 },
    costUsd: 0.001,
    latencyMs: 120,
    outcome: 'ok',
    stream: false,
    ...extra,
  };
}

/** Polls until `check()` holds or `timeoutMs` passes (then throws). */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A clock tests move by hand. */
export class FakeClock {
  constructor(public ms: number) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}
