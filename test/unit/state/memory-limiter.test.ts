import { describe, expect, it } from 'vitest';

import { MemoryLimiter } from '../../../src/state/memory/memory-limiter.js';
import type { BucketSpec } from '../../../src/state/types.js';
import { FakeClock } from './state-fixtures.js';

const TTL = { ttlMs: 60_000 };

describe('MemoryLimiter with an injected clock', () => {
  it('a day budget resets at UTC midnight, not before', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 20, 23, 59, 59, 500));
    const limiter = new MemoryLimiter({ now: clock.now });
    const budget = (amount: number): BucketSpec => ({ kind: 'period', key: 'team:red', limit: 1, period: 'day', amount });
    expect((await limiter.reserve([budget(1)], TTL)).ok).toBe(true);
    expect(await limiter.reserve([budget(0.1)], TTL)).toMatchObject({ ok: false, retryAfterMs: 500, states: [{ remaining: 0, resetMs: 500 }] });
    clock.advance(499);
    expect((await limiter.reserve([budget(0.1)], TTL)).ok).toBe(false);
    clock.advance(1);
    expect(await limiter.reserve([budget(0.1)], TTL)).toMatchObject({ ok: true, states: [{ resetMs: 86_400_000 }] });
  });

  it('a month budget resets on the first of the next month (UTC)', async () => {
    const clock = new FakeClock(Date.UTC(2028, 1, 29, 23, 0));
    const limiter = new MemoryLimiter({ now: clock.now });
    const budget: BucketSpec = { kind: 'period', key: 'm', limit: 10, period: 'month', amount: 10 };
    expect((await limiter.reserve([budget], TTL)).ok).toBe(true);
    expect(await limiter.reserve([budget], TTL)).toMatchObject({ ok: false, retryAfterMs: 3_600_000 });
    clock.advance(3_600_000);
    expect((await limiter.reserve([budget], TTL)).ok).toBe(true);
  });

  it('settling across midnight: a refund of yesterday is dropped, an overshoot is charged today', async () => {
    const clock = new FakeClock(Date.UTC(2026, 4, 20, 23, 59, 0));
    const limiter = new MemoryLimiter({ now: clock.now });
    const budget = (amount: number): BucketSpec => ({ kind: 'period', key: 'b', limit: 1, period: 'day', amount });
    const long = { ttlMs: 600_000 };
    const refundLater = await limiter.reserve([budget(0.5)], long);
    const chargeLater = await limiter.reserve([budget(0.1)], long);
    clock.advance(120_000);
    await limiter.settle(refundLater.ok ? refundLater.reservation : '', [{ key: 'b', amount: 0 }]);
    expect((await limiter.peek([budget(0)]))[0]!.remaining).toBe(1);
    await limiter.settle(chargeLater.ok ? chargeLater.reservation : '', [{ key: 'b', amount: 0.4 }]);
    expect((await limiter.peek([budget(0)]))[0]!.remaining).toBeCloseTo(0.7);
  });

  it('keeps memory bounded: full buckets, past periods and expired reservations are swept', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12));
    const limiter = new MemoryLimiter({ now: clock.now, maxRateBuckets: 100, sweepEveryMs: 1_000 });
    for (let i = 0; i < 1_000; i++) {
      await limiter.reserve(
        [
          { kind: 'rate', key: `k${i}`, limit: 10, windowMs: 60_000, amount: 1 },
          { kind: 'period', key: `p${i % 10}`, limit: 100, period: 'day', amount: 1 },
          { kind: 'concurrency', key: `c${i % 10}`, limit: 1_000 },
        ],
        { ttlMs: 5_000 },
      );
    }
    expect(limiter.size().rateBuckets).toBeLessThanOrEqual(101);
    clock.advance(86_400_000); // every rate bucket full again, the day over, the reservations expired
    await limiter.reserve([], TTL);
    expect(limiter.size()).toEqual({ rateBuckets: 0, periodBuckets: 0, concurrencyBuckets: 0, reservations: 1 }); // the empty one just made
  });

  it('rejects invalid bucket specs as caller bugs', async () => {
    const limiter = new MemoryLimiter();
    await expect(limiter.reserve([{ kind: 'rate', key: 'x', limit: 10, windowMs: 0, amount: 1 }], TTL)).rejects.toThrow(TypeError);
    await expect(limiter.reserve([], { ttlMs: -1 })).rejects.toThrow(TypeError);
  });
});
