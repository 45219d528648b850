/**
 * One contract for every state backend: `describeStateContract(harness)` runs the same tests
 * against whatever store the harness opens (memory with a fake clock, the real Redis).
 */
import { afterEach, describe, expect, it } from 'vitest';

import { TOTAL_PERIOD_RESET_MS } from '../../../src/state/buckets.js';
import type { BucketSpec, KeyRecord, StateBackend, UsageRecord } from '../../../src/state/types.js';
import { keyRecord, usageRecord, waitFor } from './state-fixtures.js';

/** What a backend under test provides. */
export interface StateHarness {
  name: string;
  /** A backend on a fresh, empty store. */
  open(): Promise<StateBackend>;
  /** A second backend on the same store as the last `open()` (another router instance; memory: the same process). */
  peer(): Promise<StateBackend>;
  /** Lets time pass: a fake clock moves (memory) or the test waits for real (Redis). */
  advance(ms: number): Promise<void>;
  /** The clock the backend uses (secret grace periods are judged by it). */
  now(): number;
  /** Whether `advance` is exact (a fake clock): tests then check exact refills. */
  exactClock: boolean;
  /** Closes what the test opened. */
  closeAll(): Promise<void>;
}

type RateSpec = Extract<BucketSpec, { kind: 'rate' }>;
const rate = (key: string, limit: number, amount = 1, windowMs = 3_600_000): RateSpec => ({ kind: 'rate', key, limit, windowMs, amount });
const TTL = { ttlMs: 30_000 };

async function collect(it: AsyncIterable<UsageRecord>): Promise<UsageRecord[]> {
  const out: UsageRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

export function describeStateContract(h: StateHarness): void {
  afterEach(() => h.closeAll());

  describe(`${h.name}: keys`, () => {
    it('creates, reads, lists and replaces records', async () => {
      const { keys } = await h.open();
      const a = keyRecord('key_a', ['ha']);
      await keys.put(a);
      await keys.put(keyRecord('key_b', ['hb'], { team: 'blue', limits: { rpm: 5 } }));
      expect(await keys.get('key_a')).toEqual(a);
      expect((await keys.list()).map((r) => r.id).sort()).toEqual(['key_a', 'key_b']);
      await keys.put({ ...a, name: 'renamed', revokedAt: '2026-01-01T00:00:00.000Z' });
      expect(await keys.get('key_a')).toMatchObject({ name: 'renamed', revokedAt: '2026-01-01T00:00:00.000Z' });
      expect(await keys.list()).toHaveLength(2);
      expect(await keys.get('nope')).toBeUndefined();
    });

    it('finds a key by the hash of its current secret or of one still in grace, not of an expired or dropped one', async () => {
      const { keys } = await h.open();
      const future = new Date(h.now() + 3_600_000).toISOString();
      const past = new Date(h.now() - 1_000).toISOString();
      const record: KeyRecord = {
        ...keyRecord('key_r', []),
        secrets: [
          { hash: 'new', prefix: 'sk-rt-new', createdAt: future },
          { hash: 'grace', prefix: 'sk-rt-old', createdAt: past, expiresAt: future },
          { hash: 'expired', prefix: 'sk-rt-older', createdAt: past, expiresAt: past },
        ],
      };
      await keys.put(record);
      expect((await keys.findByHash('new'))?.id).toBe('key_r');
      expect((await keys.findByHash('grace'))?.id).toBe('key_r');
      expect(await keys.findByHash('expired')).toBeUndefined();
      expect(await keys.findByHash('unknown')).toBeUndefined();
      await keys.put({ ...record, secrets: [record.secrets[0]!] }); // grace over: the old secret is dropped
      expect(await keys.findByHash('grace')).toBeUndefined();
      expect((await keys.findByHash('new'))?.id).toBe('key_r');
    });

    it('tells listeners of a change, on this instance and on the others', async () => {
      const a = await h.open();
      const b = await h.peer();
      const seenA: string[] = [];
      const seenB: string[] = [];
      a.keys.onChange((id) => seenA.push(id));
      const off = b.keys.onChange((id) => seenB.push(id));
      await a.keys.put(keyRecord('key_c', ['hc']));
      await waitFor(() => seenB.includes('key_c'), 2_000);
      expect(seenA).toEqual(['key_c']);
      await a.keys.put({ ...keyRecord('key_c', ['hc']), revokedAt: new Date().toISOString() });
      await waitFor(() => seenB.length === 2, 2_000);
      expect((await b.keys.findByHash('hc'))?.revokedAt).toBeDefined();
      off();
    });
  });

  describe(`${h.name}: limiter`, () => {
    it('admits exactly `limit` and refuses the next with a sensible retryAfterMs', async () => {
      const { limiter } = await h.open();
      const windowMs = 60_000;
      for (let i = 0; i < 5; i++) {
        const r = await limiter.reserve([rate('rpm', 5, 1, windowMs)], TTL);
        expect(r).toMatchObject({ ok: true, states: [{ key: 'rpm', limit: 5, remaining: 4 - i }] });
      }
      const refused = await limiter.reserve([rate('rpm', 5, 1, windowMs)], TTL);
      expect(refused).toMatchObject({ ok: false, refused: 'rpm', states: [{ remaining: 0 }] });
      if (refused.ok) return;
      expect(refused.retryAfterMs).toBeGreaterThan(windowMs / 5 - 1_000);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(windowMs / 5);
      if (h.exactClock) {
        expect(refused.retryAfterMs).toBe(12_000);
        await h.advance(12_000);
        expect((await limiter.reserve([rate('rpm', 5, 1, windowMs)], TTL)).ok).toBe(true);
        expect((await limiter.reserve([rate('rpm', 5, 1, windowMs)], TTL)).ok).toBe(false);
      }
    });

    it('refills continuously', async () => {
      const { limiter } = await h.open();
      const spec = rate('fast', 10, 10, 1_000);
      expect((await limiter.reserve([spec], TTL)).ok).toBe(true);
      await h.advance(350);
      const [state] = await limiter.peek([spec]);
      expect(state!.remaining).toBeGreaterThanOrEqual(3);
      expect(state!.remaining).toBeLessThanOrEqual(h.exactClock ? 3 : 9);
      expect((await limiter.reserve([{ ...spec, amount: 3 }], TTL)).ok).toBe(true);
    });

    it('an amount above the capacity passes only from a full bucket; a zero amount needs something left', async () => {
      const { limiter } = await h.open();
      const tpm = rate('big', 100, 250);
      expect(await limiter.reserve([tpm], TTL)).toMatchObject({ ok: true, states: [{ remaining: 0 }] });
      const refused = await limiter.reserve([tpm], TTL);
      expect(refused).toMatchObject({ ok: false, refused: 'big' });
      if (!refused.ok) expect(refused.retryAfterMs).toBeGreaterThan(250 * 36_000 - 1_000); // from -150 back to full
      expect((await limiter.reserve([{ ...tpm, amount: 0 }], TTL)).ok).toBe(false);
      expect((await limiter.reserve([{ ...tpm, key: 'fresh', amount: 0 }], TTL)).ok).toBe(true);
    });

    it('is all-or-nothing across buckets', async () => {
      const { limiter } = await h.open();
      const specs = [rate('wide', 10), rate('narrow', 1), { kind: 'concurrency', key: 'slots', limit: 5 } as const];
      expect((await limiter.reserve(specs, TTL)).ok).toBe(true);
      const refused = await limiter.reserve(specs, TTL);
      expect(refused).toMatchObject({ ok: false, refused: 'narrow' });
      const [wide, narrow, slots] = await limiter.peek(specs);
      expect(wide!.remaining).toBe(9);
      expect(narrow!.remaining).toBe(0);
      expect(slots!.remaining).toBe(4);
    });

    it('settle refunds what was not used, never above capacity, and charges an overshoot', async () => {
      const { limiter } = await h.open();
      const tpm = rate('tpm', 100, 80);
      const r = await limiter.reserve([tpm], TTL);
      expect(r.ok && r.states[0]!.remaining).toBe(20);
      await limiter.settle(r.ok ? r.reservation : '', [{ key: 'tpm', amount: 30 }]);
      expect((await limiter.peek([tpm]))[0]!.remaining).toBe(70);

      const small = await limiter.reserve([{ ...tpm, amount: 10 }], TTL);
      await limiter.settle(small.ok ? small.reservation : '', [{ key: 'tpm', amount: 0 }]);
      const big = await limiter.reserve([{ ...tpm, amount: 1 }], TTL);
      await limiter.settle(big.ok ? big.reservation : '', [{ key: 'tpm', amount: -1_000 }]);
      expect((await limiter.peek([tpm]))[0]!.remaining).toBe(100);

      const stream = await limiter.reserve([{ ...tpm, amount: 50 }], TTL);
      await limiter.settle(stream.ok ? stream.reservation : '', [{ key: 'tpm', amount: 150 }]);
      const [after] = await limiter.peek([tpm]);
      expect(after!.remaining).toBe(0);
      const next = await limiter.reserve([{ ...tpm, amount: 1 }], TTL);
      expect(next.ok).toBe(false);
      // 100 - 50 - 100 = -50 tokens: 51 to earn back at 100 per hour
      if (!next.ok) {
        expect(next.retryAfterMs).toBeGreaterThan(50 * 36_000);
        expect(next.retryAfterMs).toBeLessThanOrEqual(51 * 36_000);
      }
    });

    it('settle is idempotent, and unknown reservations are ignored', async () => {
      const { limiter } = await h.open();
      const tpm = rate('tpm', 100, 60);
      const r = await limiter.reserve([tpm, { kind: 'concurrency', key: 'c', limit: 1 }], TTL);
      if (!r.ok) throw new Error('reserve refused');
      await limiter.settle(r.reservation, [{ key: 'tpm', amount: 10 }]);
      await limiter.settle(r.reservation, [{ key: 'tpm', amount: 10 }]);
      await limiter.settle(r.reservation, [{ key: 'tpm', amount: 0 }]);
      expect((await limiter.peek([tpm]))[0]!.remaining).toBe(90);
      await limiter.settle('no-such-reservation', [{ key: 'tpm', amount: 0 }]);
      expect((await limiter.reserve([{ kind: 'concurrency', key: 'c', limit: 1 }], TTL)).ok).toBe(true);
    });

    it('holds concurrency slots until settle or until the ttl passes', async () => {
      const { limiter } = await h.open();
      const c = { kind: 'concurrency', key: 'inflight', limit: 2 } as const;
      const r1 = await limiter.reserve([c], TTL);
      const r2 = await limiter.reserve([c], { ttlMs: 500 });
      expect(r1.ok && r2.ok).toBe(true);
      const refused = await limiter.reserve([c], TTL);
      expect(refused).toMatchObject({ ok: false, refused: 'inflight', retryAfterMs: 1_000, states: [{ remaining: 0, resetMs: 0 }] });
      await limiter.settle(r1.ok ? r1.reservation : '', []);
      const r3 = await limiter.reserve([c], TTL);
      expect(r3.ok).toBe(true);
      expect((await limiter.reserve([c], TTL)).ok).toBe(false);
      await h.advance(600); // r2 expires
      expect((await limiter.reserve([c], TTL)).ok).toBe(true);
    });

    it('an expired reservation counts as settled with what it reserved: a late settle changes nothing', async () => {
      const { limiter } = await h.open();
      const tpm = rate('tpm', 100, 60);
      const r = await limiter.reserve([tpm], { ttlMs: 200 });
      await h.advance(300);
      await limiter.settle(r.ok ? r.reservation : '', [{ key: 'tpm', amount: 0 }]);
      expect((await limiter.peek([tpm]))[0]!.remaining).toBeLessThanOrEqual(41);
    });

    it('period buckets hold spend until the period ends', async () => {
      const { limiter } = await h.open();
      const day = (amount: number): BucketSpec => ({ kind: 'period', key: 'budget', limit: 1, period: 'day', amount });
      const first = await limiter.reserve([day(0.4)], TTL);
      expect((await limiter.reserve([day(0.4)], TTL)).ok).toBe(true);
      const refused = await limiter.reserve([day(0.4)], TTL);
      expect(refused).toMatchObject({ ok: false, refused: 'budget' });
      if (!refused.ok) {
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(86_400_000);
        expect(refused.states[0]!.remaining).toBeCloseTo(0.2);
      }
      await limiter.settle(first.ok ? first.reservation : '', [{ key: 'budget', amount: 0.1 }]);
      expect((await limiter.reserve([day(0.4)], TTL)).ok).toBe(true);
      expect((await limiter.peek([day(0)]))[0]!.remaining).toBeCloseTo(0.1);

      const total: BucketSpec = { kind: 'period', key: 'lifetime', limit: 5, period: 'total', amount: 5 };
      expect((await limiter.reserve([total], TTL)).ok).toBe(true);
      expect(await limiter.reserve([{ ...total, amount: 0.01 }], TTL)).toMatchObject({ ok: false, retryAfterMs: TOTAL_PERIOD_RESET_MS });
    });

    it('peek reads without taking', async () => {
      const { limiter } = await h.open();
      const specs = [rate('p', 3), { kind: 'concurrency', key: 'pc', limit: 1 } as const];
      for (let i = 0; i < 3; i++) expect((await limiter.peek(specs)).map((s) => s.remaining)).toEqual([3, 1]);
      await limiter.reserve(specs, TTL);
      expect((await limiter.peek(specs)).map((s) => s.remaining)).toEqual([2, 0]);
    });

    it('parallel reserves from two instances never exceed the limit', async () => {
      const a = await h.open();
      const b = await h.peer();
      const specs = [rate('shared', 50), { kind: 'concurrency', key: 'shared-c', limit: 50 } as const];
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).limiter.reserve(specs, TTL)));
      expect(results.filter((r) => r.ok)).toHaveLength(50);
      const ids = new Set(results.flatMap((r) => (r.ok ? [r.reservation] : [])));
      expect(ids.size).toBe(50);
    });
  });

  describe(`${h.name}: usage`, () => {
    it('appends without waiting and answers queries by key, team, route and time range, oldest first', async () => {
      const { usage } = await h.open();
      const t = Date.parse('2026-03-01T10:00:00.000Z');
      usage.append(usageRecord({ requestId: 'r1', time: new Date(t).toISOString(), keyId: 'k1', team: 'red', route: 'chat' }));
      usage.append(usageRecord({ requestId: 'r2', time: new Date(t + 1_000).toISOString(), keyId: 'k2', team: 'red', route: 'chat' }));
      usage.append(usageRecord({ requestId: 'r3', time: new Date(t + 2_000).toISOString(), keyId: 'k1', team: 'blue', route: 'embed' }));
      await usage.flush();
      const ids = async (q: Parameters<typeof usage.query>[0], limit?: number) => (await collect(usage.query(q, limit))).map((r) => r.requestId);
      expect(await ids({})).toEqual(['r1', 'r2', 'r3']);
      expect(await ids({ key: 'k1' })).toEqual(['r1', 'r3']);
      expect(await ids({ team: 'red' })).toEqual(['r1', 'r2']);
      expect(await ids({ route: 'embed' })).toEqual(['r3']);
      expect(await ids({ from: new Date(t + 1_000), to: new Date(t + 2_000) })).toEqual(['r2']);
      expect(await ids({}, 2)).toEqual(['r1', 'r2']);
      const [first] = await collect(usage.query({ key: 'k1' }, 1));
      expect(first).toEqual(usageRecord({ requestId: 'r1', time: new Date(t).toISOString(), keyId: 'k1', team: 'red', route: 'chat' }));
    });

    it('close writes what is still queued', async () => {
      const backend = await h.open();
      for (let i = 0; i < 300; i++) backend.usage.append(usageRecord({ requestId: `q${i}` }));
      await backend.close();
      const again = await h.peer();
      expect((await collect(again.usage.query({}))).map((r) => r.requestId)).toEqual(Array.from({ length: 300 }, (_, i) => `q${i}`));
    });
  });
}
