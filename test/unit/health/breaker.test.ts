import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ProviderError } from '../../../src/core/provider-error.js';
import { createBreaker, type TargetBreaker } from '../../../src/health/breaker.js';
import { fail, flush, ok } from './helpers.js';

const SETTINGS = { errorPercent: 50, minRequests: 4, windowMs: 10_000, openMs: 1_000 };

describe('breaker (opossum behind our interface)', () => {
  let opened: ProviderError[];
  let breaker: TargetBreaker;

  beforeEach(() => {
    vi.useFakeTimers();
    opened = [];
    breaker = createBreaker('a/m', SETTINGS, (cause) => opened.push(cause));
  });
  afterEach(() => {
    breaker.shutdown();
    vi.useRealTimers();
  });

  it('does not open before minRequests calls, even at 100% errors', async () => {
    for (let i = 0; i < 3; i++) breaker.record(fail('server'));
    await flush();
    expect(opened).toHaveLength(0);
    expect(breaker.counts()).toMatchObject({ calls: 3, failures: 3, errorPercent: 100 });
  });

  it('opens once the window holds minRequests calls at errorPercent or more, naming the cause', async () => {
    breaker.record(ok());
    breaker.record(fail('timeout'));
    breaker.record(ok());
    await flush();
    expect(opened).toHaveLength(0);
    breaker.record(fail('rate_limit')); // 2 of 4 = 50%
    await flush();
    expect(opened).toHaveLength(1);
    expect(opened[0]!.kind).toBe('rate_limit');
  });

  it('stays closed below errorPercent', async () => {
    for (const o of [ok(), ok(), ok(), fail('server'), ok(), ok()]) breaker.record(o);
    await flush();
    expect(opened).toHaveLength(0);
    expect(breaker.counts().errorPercent).toBeCloseTo(16.7, 1);
  });

  it.each(['invalid_request', 'auth', 'not_found', 'aborted', 'breaker_open'] as const)('counts %s as a success', async (kind) => {
    for (let i = 0; i < 10; i++) breaker.record(fail(kind));
    await flush();
    expect(opened).toHaveLength(0);
    expect(breaker.counts()).toMatchObject({ calls: 10, successes: 10, failures: 0 });
  });

  it('forgets failures once they leave the rolling window', async () => {
    for (let i = 0; i < 3; i++) breaker.record(fail('server'));
    await flush();
    await vi.advanceTimersByTimeAsync(SETTINGS.windowMs + 1_000);
    breaker.record(fail('server'));
    await flush();
    expect(opened).toHaveLength(0);
    expect(breaker.counts().calls).toBe(1);
  });

  it('opens at errorPercent 100 (opossum alone needs the rate to exceed its threshold)', async () => {
    const all = createBreaker('x/m', { ...SETTINGS, errorPercent: 100 }, (cause) => opened.push(cause));
    for (let i = 0; i < 4; i++) all.record(fail('network'));
    await flush();
    expect(opened).toHaveLength(1);
    all.shutdown();
  });

  it('counts rejects apart from calls, and reset starts a clean window', async () => {
    breaker.record(fail('server'));
    breaker.reject();
    breaker.reject();
    await flush();
    expect(breaker.counts()).toMatchObject({ calls: 1, failures: 1, rejects: 2, errorPercent: 100 });
    breaker.reset();
    expect(breaker.counts()).toMatchObject({ calls: 0, failures: 0, rejects: 0 });
    // The old instance's failure must not count towards opening the new one.
    for (const o of [ok(), ok(), fail('server')]) breaker.record(o);
    await flush();
    expect(opened).toHaveLength(0);
  });

  it('leaves no timers behind after shutdown and ignores later outcomes', async () => {
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    breaker.shutdown();
    expect(vi.getTimerCount()).toBe(0);
    for (let i = 0; i < 5; i++) breaker.record(fail('server'));
    await flush();
    expect(opened).toHaveLength(0);
  });
});
