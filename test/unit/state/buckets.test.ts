import { describe, expect, it } from 'vitest';

import {
  CONCURRENCY_RETRY_MS,
  TOTAL_PERIOD_RESET_MS,
  correctPeriod,
  correctRate,
  currentLevel,
  periodBounds,
  planReserve,
  rateTokensNow,
  validateSpecs,
} from '../../../src/state/buckets.js';
import type { BucketSpec } from '../../../src/state/types.js';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

describe('periodBounds (UTC)', () => {
  it('day: midnight to midnight', () => {
    expect(periodBounds('day', T0)).toEqual({ startMs: Date.UTC(2026, 0, 15), endMs: Date.UTC(2026, 0, 16) });
    expect(periodBounds('day', Date.UTC(2026, 0, 16) - 1).startMs).toBe(Date.UTC(2026, 0, 15));
    expect(periodBounds('day', Date.UTC(2026, 0, 16)).startMs).toBe(Date.UTC(2026, 0, 16));
  });

  it('month: first of the month to the first of the next, across years and leap Februaries', () => {
    expect(periodBounds('month', Date.UTC(2026, 11, 31, 23, 59))).toEqual({ startMs: Date.UTC(2026, 11, 1), endMs: Date.UTC(2027, 0, 1) });
    expect(periodBounds('month', Date.UTC(2028, 1, 29))).toEqual({ startMs: Date.UTC(2028, 1, 1), endMs: Date.UTC(2028, 2, 1) });
  });

  it('total: forever', () => {
    expect(periodBounds('total', T0)).toEqual({ startMs: 0, endMs: Infinity });
  });
});

describe('rate buckets', () => {
  const spec = (amount: number): BucketSpec => ({ kind: 'rate', key: 'k', limit: 10, windowMs: 1_000, amount });

  it('a missing bucket is full and refills continuously, capped at the limit', () => {
    expect(rateTokensNow(undefined, 10, 1_000, T0)).toBe(10);
    expect(rateTokensNow({ tokens: 0, atMs: T0 }, 10, 1_000, T0 + 250)).toBeCloseTo(2.5);
    expect(rateTokensNow({ tokens: 0, atMs: T0 }, 10, 1_000, T0 + 5_000)).toBe(10);
    expect(rateTokensNow({ tokens: 3, atMs: T0 }, 10, 1_000, T0 - 1_000)).toBe(3); // clock went back
  });

  it('takes the amount, then refuses with the time the missing tokens need', () => {
    const ok = planReserve([spec(10)], [currentLevel(spec(10), {}, T0)], T0);
    expect(ok).toMatchObject({ ok: true, states: [{ remaining: 0, resetMs: 1_000 }] });
    const refused = planReserve([spec(3)], [{ kind: 'rate', tokens: 1 }], T0);
    expect(refused).toMatchObject({ ok: false, refusedIndex: 0, retryAfterMs: 200, states: [{ remaining: 1 }] });
  });

  it('an amount above the capacity passes from a full bucket only', () => {
    expect(planReserve([spec(25)], [{ kind: 'rate', tokens: 10 }], T0).ok).toBe(true);
    const refused = planReserve([spec(25)], [{ kind: 'rate', tokens: 9 }], T0);
    expect(refused).toMatchObject({ ok: false, retryAfterMs: 100 });
  });

  it('a zero amount needs something left', () => {
    expect(planReserve([spec(0)], [{ kind: 'rate', tokens: 0.5 }], T0).ok).toBe(true);
    expect(planReserve([spec(0)], [{ kind: 'rate', tokens: 0 }], T0).ok).toBe(false);
  });

  it('settle: charges go below zero, refunds stop at the capacity', () => {
    expect(correctRate(2, 10, 5)).toBe(-3);
    expect(correctRate(8, 10, -5)).toBe(10);
    const inDebt = planReserve([spec(1)], [{ kind: 'rate', tokens: -3 }], T0);
    expect(inDebt).toMatchObject({ ok: false, retryAfterMs: 400, states: [{ remaining: 0, resetMs: 1_300 }] });
  });
});

describe('period buckets', () => {
  const spec = (amount: number, period: 'day' | 'total' = 'day'): BucketSpec => ({ kind: 'period', key: 'b', limit: 0.3, period, amount });

  it('spend of an earlier period reads as zero', () => {
    const stored = { period: { spent: 0.3, startMs: Date.UTC(2026, 0, 14) } };
    expect(currentLevel(spec(0.1), stored, T0)).toMatchObject({ spent: 0 });
    expect(currentLevel(spec(0.1), { period: { spent: 0.3, startMs: Date.UTC(2026, 0, 15) } }, T0)).toMatchObject({ spent: 0.3 });
  });

  it('fills exactly despite binary fractions, refuses past the limit until the period ends', () => {
    const level = currentLevel(spec(0.2), { period: { spent: 0.1, startMs: Date.UTC(2026, 0, 15) } }, T0);
    const ok = planReserve([spec(0.2)], [level], T0);
    expect(ok.ok).toBe(true);
    const refused = planReserve([spec(0.01)], [{ kind: 'period', spent: 0.3, startMs: Date.UTC(2026, 0, 15), endMs: Date.UTC(2026, 0, 16) }], T0);
    expect(refused).toMatchObject({ ok: false, retryAfterMs: 12 * 3_600_000 });
  });

  it('total never resets', () => {
    const level = currentLevel(spec(1, 'total'), {}, T0);
    expect(planReserve([spec(1, 'total')], [level], T0)).toMatchObject({ ok: false, retryAfterMs: TOTAL_PERIOD_RESET_MS });
  });

  it('settle across a period change: charges land, refunds are dropped, never below zero', () => {
    expect(correctPeriod(0.1, false, 0.05)).toBeCloseTo(0.15);
    expect(correctPeriod(0.1, false, -0.05)).toBe(0.1);
    expect(correctPeriod(0.1, true, -0.5)).toBe(0);
  });
});

describe('planReserve', () => {
  it('is all-or-nothing: the first bucket that does not fit is named, nothing is taken', () => {
    const specs: BucketSpec[] = [
      { kind: 'rate', key: 'rpm', limit: 10, windowMs: 60_000, amount: 1 },
      { kind: 'concurrency', key: 'inflight', limit: 2 },
      { kind: 'period', key: 'budget', limit: 1, period: 'month', amount: 0.5 },
    ];
    const levels = [
      { kind: 'rate', tokens: 10 },
      { kind: 'concurrency', live: 2 },
      { kind: 'period', spent: 0.9, startMs: 0, endMs: T0 + 1_000 },
    ] as const;
    const plan = planReserve(specs, [...levels], T0);
    expect(plan).toMatchObject({ ok: false, refusedIndex: 1, retryAfterMs: CONCURRENCY_RETRY_MS });
    expect(plan.states.map((s) => s.remaining)).toEqual([10, 0, expect.closeTo(0.1)]);
  });

  it('reports the levels after taking when every bucket fits', () => {
    const specs: BucketSpec[] = [
      { kind: 'rate', key: 'rpm', limit: 10, windowMs: 60_000, amount: 1 },
      { kind: 'concurrency', key: 'inflight', limit: 2 },
    ];
    const plan = planReserve(specs, [{ kind: 'rate', tokens: 10 }, { kind: 'concurrency', live: 0 }], T0);
    expect(plan).toMatchObject({ ok: true, states: [{ remaining: 9, resetMs: 6_000 }, { remaining: 1, resetMs: 0 }] });
  });
});

describe('validateSpecs', () => {
  it('rejects duplicate keys and meaningless limits', () => {
    expect(() => validateSpecs([{ kind: 'concurrency', key: 'a', limit: 1 }, { kind: 'concurrency', key: 'a', limit: 1 }])).toThrow(/twice/);
    expect(() => validateSpecs([{ kind: 'rate', key: 'a', limit: 0, windowMs: 1, amount: 1 }])).toThrow(TypeError);
    expect(() => validateSpecs([{ kind: 'period', key: 'a', limit: 1, period: 'day', amount: Number.NaN }])).toThrow(TypeError);
    expect(() => validateSpecs([], 0)).toThrow(/ttlMs/);
    expect(() => validateSpecs([{ kind: 'period', key: 'a', limit: 0, period: 'day', amount: 0 }], 1_000)).not.toThrow();
  });
});
