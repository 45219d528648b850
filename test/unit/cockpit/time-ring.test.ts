import { describe, expect, it } from 'vitest';
import { histogramQuantile } from '../../../src/cockpit/histogram-quantile.js';
import { RollingSeries, TimeRing } from '../../../src/cockpit/time-ring.js';

describe('TimeRing', () => {
  it('sums slots into bins of a step and over a range', () => {
    const r = new TimeRing(1_000, 10, 2);
    r.add(10_000, [1, 10]);
    r.add(10_500, [1, 10]); // same second
    r.add(11_000, [2, 20]);
    r.add(13_999, [4, 40]);
    expect([...r.sum(10_000, 14_000)]).toEqual([8, 80]);
    expect(r.bins(10_000, 14_000, 2_000).map((b) => [...b])).toEqual([
      [4, 40],
      [4, 40],
    ]);
    expect([...r.sum(11_000, 12_000)]).toEqual([2, 20]);
  });

  it('forgets a slot when the ring comes round to it again, and what is older than its reach', () => {
    const r = new TimeRing(1_000, 3, 1);
    r.add(0, [5]);
    r.add(1_000, [1]);
    r.add(3_000, [7]); // reuses slot 0's position
    expect([...r.sum(0, 4_000)]).toEqual([8]);
    expect(r.bins(0, 4_000, 1_000).map((b) => b[0])).toEqual([0, 1, 0, 7]);
  });
});

describe('RollingSeries', () => {
  it('feeds both resolutions and a total; short windows read the fine ring', () => {
    const s = new RollingSeries(1);
    s.add(1_000, [1]);
    s.add(16_000, [2]);
    expect(s.total[0]).toBe(3);
    expect(s.ringFor(300_000)).toBe(s.fine);
    expect(s.ringFor(900_000)).toBe(s.coarse);
    expect([...s.coarse.sum(0, 30_000)]).toEqual([3]);
    expect(s.coarse.bins(0, 30_000, 15_000).map((b) => b[0])).toEqual([1, 2]);
  });
});

describe('histogramQuantile', () => {
  const bounds = [0.1, 0.5, 1, Infinity];

  it('interpolates inside the bucket holding the rank, as Prometheus does', () => {
    // 10 observations: 4 ≤ 0.1, 4 in (0.1, 0.5], 2 in (0.5, 1].
    const cum = [4, 8, 10, 10];
    expect(histogramQuantile(0.5, bounds, cum)).toBeCloseTo(0.1 + 0.4 * (1 / 4));
    expect(histogramQuantile(0.2, bounds, cum)).toBeCloseTo(0.05);
    expect(histogramQuantile(0.99, bounds, cum)).toBeCloseTo(0.5 + 0.5 * (1.9 / 2));
  });

  it('answers the highest finite bound for the +Inf bucket, and null without observations', () => {
    expect(histogramQuantile(0.99, bounds, [0, 0, 0, 5])).toBe(1);
    expect(histogramQuantile(0.5, bounds, [0, 0, 0, 0])).toBeNull();
    expect(histogramQuantile(0.5, [], [])).toBeNull();
  });
});
