import { Counter } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_METRICS, frameOf } from '../../../src/cockpit/dashboard-metrics.js';
import { cacheView, countsOf, localModelsView, spendView } from '../../../src/cockpit/live-spend.js';
import { latencyView, trafficView } from '../../../src/cockpit/live-traffic.js';
import { MetricSampler } from '../../../src/cockpit/metric-sampler.js';
import type { KeyView } from '../../../src/identity/key-view.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createUsageMetrics } from '../../../src/observability/usage-metrics.js';

/** The router's real metrics on a fresh registry, a sampler over them, and a hand-driven clock. */
function setup() {
  const metrics = createMetrics();
  const usage = createUsageMetrics(metrics.registry);
  const cache = new Counter({ name: 'llm_router_cache_lookups_total', help: 'x', labelNames: ['route', 'result'], registers: [metrics.registry] });
  let t = Date.parse('2026-01-01T00:00:00Z');
  const sampler = new MetricSampler({ registry: metrics.registry, metrics: DASHBOARD_METRICS, now: () => t });
  return { metrics, usage, cache, sampler, now: () => t, advance: (ms: number) => void (t += ms) };
}

const key = (id: string, name: string, team?: string): KeyView => ({ id, name, ...(team ? { team } : {}), createdAt: '', source: 'api', status: 'active', prefix: '', secrets: [] });

describe('metric sampler', () => {
  it('takes the first reading as the baseline and counts growth after it', async () => {
    const e = setup();
    e.metrics.requests.inc({ route: 'chat', provider: 'a', outcome: 'ok', stream: 'false' }, 100);
    await e.sampler.tick();
    e.advance(1_000);
    e.metrics.requests.inc({ route: 'chat', provider: 'a', outcome: 'ok', stream: 'false' }, 3);
    e.metrics.requests.inc({ route: 'chat', provider: 'a', outcome: 'ok', stream: 'true' }, 2); // a new series: all of it is growth
    e.metrics.requests.inc({ route: 'chat', provider: 'none', outcome: 'server', stream: 'false' });
    await e.sampler.tick();
    const f = frameOf('5m', e.now(), e.sampler.startedAt);
    const traffic = trafficView(e.sampler, f);
    expect(traffic.requests).toBe(6);
    expect(traffic.errors).toBe(1);
    expect(traffic.rows.map((r) => [r.route, r.provider, r.requests, r.errors])).toEqual([
      ['chat', 'a', 5, 0],
      ['chat', 'none', 1, 1],
    ]);
    expect(traffic.perSecond).toBe(6); // one second since the sampler started
    expect(traffic.lines[0]!.label).toBe('all');
    expect(traffic.lines[0]!.values).toHaveLength(60); // 5 minutes in 5-second points
  });

  it('counts a counter that went down (a reset) as grown by its whole new value', async () => {
    const e = setup();
    e.metrics.fallbacks.inc({ route: 'chat', from: 'a/m', to: 'b/m', kind: 'server' }, 10);
    await e.sampler.tick();
    e.metrics.fallbacks.reset();
    e.metrics.fallbacks.inc({ route: 'chat', from: 'a/m', to: 'b/m', kind: 'server' }, 2);
    e.advance(1_000);
    await e.sampler.tick();
    const rows = countsOf(e.sampler, 'fallbacks', frameOf('5m', e.now(), e.sampler.startedAt));
    expect(rows).toEqual([{ labels: { route: 'chat', from: 'a/m', to: 'b/m', kind: 'server' }, count: 2 }]);
  });

  it('turns histogram growth into p50/p99 over the window and per chart point, filtered by route', async () => {
    const e = setup();
    await e.sampler.tick();
    for (let i = 0; i < 90; i++) e.metrics.latency.observe({ route: 'chat', provider: 'a', stream: 'false' }, 0.2);
    for (let i = 0; i < 10; i++) e.metrics.latency.observe({ route: 'chat', provider: 'a', stream: 'false' }, 4);
    e.metrics.latency.observe({ route: 'other', provider: 'a', stream: 'false' }, 50);
    e.advance(1_000);
    await e.sampler.tick();
    const f = frameOf('5m', e.now(), e.sampler.startedAt);
    const chat = latencyView(e.sampler, 'latency', f, (g) => g.labels.route === 'chat');
    // 0.2 s falls in (0.1, 0.25]; 4 s in (2.5, 5].
    expect(chat.p50Ms).toBeGreaterThan(100);
    expect(chat.p50Ms).toBeLessThanOrEqual(250);
    expect(chat.p99Ms).toBeGreaterThan(2_500);
    expect(chat.p99Ms).toBeLessThanOrEqual(5_000);
    const filled = chat.lines[1]!.values.filter((v) => v !== null);
    expect(filled).toHaveLength(1);
    const all = latencyView(e.sampler, 'latency', f);
    expect(all.p99Ms).toBeGreaterThan(chat.p99Ms!);
    const rows = trafficView(e.sampler, f).rows;
    expect(rows).toEqual([]); // no requests_total growth: latency alone makes no traffic row
  });

  it('keeps the 60-minute window on 15-second slots, forgetting what is older', async () => {
    const e = setup();
    await e.sampler.tick();
    e.usage.recordUsage({ time: '', requestId: 'r', keyId: 'k1', route: 'chat', provider: 'a', model: 'm', tokens: { prompt: 10, completion: 5 }, costUsd: 0.5, latencyMs: 1, outcome: 'ok', stream: false });
    e.advance(1_000);
    await e.sampler.tick();
    e.advance(20 * 60_000);
    await e.sampler.tick();
    const keys = [key('k1', 'CI', 'ml')];
    expect(spendView(e.sampler, frameOf('5m', e.now(), e.sampler.startedAt), keys).keys).toEqual([
      { key: 'k1', name: 'CI', team: 'ml', costUsd: 0, costUsdTotal: 0.5, promptTokens: 0, completionTokens: 0 },
    ]);
    const hour = spendView(e.sampler, frameOf('60m', e.now(), e.sampler.startedAt), keys);
    expect(hour.costUsd).toBe(0.5);
    expect(hour.keys[0]).toMatchObject({ costUsd: 0.5, promptTokens: 10, completionTokens: 5 });
    expect(hour.teams).toEqual([{ team: 'ml', keys: 1, costUsd: 0.5, promptTokens: 10, completionTokens: 5 }]);
    e.advance(45 * 60_000);
    await e.sampler.tick();
    expect(spendView(e.sampler, frameOf('60m', e.now(), e.sampler.startedAt), keys).costUsd).toBe(0);
  });

  it('sums spend per team, with keys the key list does not know under "(no team)"', async () => {
    const e = setup();
    await e.sampler.tick();
    const rec = (keyId: string, costUsd: number) => e.usage.recordUsage({ time: '', requestId: 'r', keyId, route: 'chat', provider: 'a', model: 'm', tokens: { prompt: 1, completion: 1 }, costUsd, latencyMs: 1, outcome: 'ok', stream: false });
    rec('k1', 1);
    rec('k2', 2);
    rec('key-0', 4);
    e.advance(1_000);
    await e.sampler.tick();
    const view = spendView(e.sampler, frameOf('5m', e.now(), e.sampler.startedAt), [key('k1', 'one', 'ml'), key('k2', 'two', 'ml')]);
    expect(view.costUsd).toBe(7);
    expect([view.moreKeys, view.moreTeams]).toEqual([0, 0]);
    expect(view.keys.map((k) => k.key)).toEqual(['key-0', 'k2', 'k1']);
    expect(view.teams).toEqual([
      { team: '(no team)', keys: 1, costUsd: 4, promptTokens: 1, completionTokens: 1 },
      { team: 'ml', keys: 2, costUsd: 3, promptTokens: 2, completionTokens: 2 },
    ]);
  });

  it('computes the cache hit ratio and the refusals by route and kind', async () => {
    const e = setup();
    await e.sampler.tick();
    e.cache.inc({ route: 'chat', result: 'hit' }, 3);
    e.cache.inc({ route: 'chat', result: 'miss' }, 1);
    e.cache.inc({ route: 'chat', result: 'bypass' }, 10);
    e.usage.limitRefused('chat', 'requests');
    e.usage.limitRefused('chat', 'requests');
    e.advance(1_000);
    await e.sampler.tick();
    const f = frameOf('5m', e.now(), e.sampler.startedAt);
    expect(cacheView(e.sampler, f)).toEqual({ results: { hit: 3, miss: 1, bypass: 10 }, hitRatio: 0.75 });
    expect(countsOf(e.sampler, 'refusals', f)).toEqual([{ labels: { route: 'chat', kind: 'requests' }, count: 2 }]);
  });

  it('shows the local model’s tokens per second and its queue gauges', async () => {
    const e = setup();
    e.metrics.providerUp.set({ provider: 'local', kind: 'llama-cpp' }, 1);
    e.metrics.providerUp.set({ provider: 'up', kind: 'openai' }, 1);
    e.metrics.targetQueueDepth.set({ provider: 'local', model: 'tiny' }, 2);
    e.metrics.targetInflight.set({ provider: 'local', model: 'tiny' }, 1);
    await e.sampler.tick();
    e.metrics.tokens.inc({ route: 'chat', provider: 'local', type: 'completion', traffic: 'live' }, 50);
    e.metrics.tokens.inc({ route: 'chat', provider: 'local', type: 'completion', traffic: 'shadow' }, 1000);
    e.advance(1_000);
    await e.sampler.tick();
    expect(localModelsView(e.sampler, frameOf('5m', e.now(), e.sampler.startedAt))).toEqual([{ provider: 'local', tokensPerSecond: { now: 5, window: 50 }, queueDepth: 2, inflight: 1 }]);
  });

  it('caps the groups of a metric, summing the rest under "other"', async () => {
    const e = setup();
    const sampler = new MetricSampler({ registry: e.metrics.registry, metrics: { cost: { ...DASHBOARD_METRICS.cost, maxGroups: 2 } }, now: e.now });
    await sampler.tick();
    for (const k of ['a', 'b', 'c', 'd']) e.usage.recordUsage({ time: '', requestId: 'r', keyId: k, route: 'chat', provider: 'p', model: 'm', tokens: { prompt: 0, completion: 0 }, costUsd: 1, latencyMs: 1, outcome: 'ok', stream: false });
    e.advance(1_000);
    await sampler.tick();
    expect(sampler.groups('cost').map((g) => [g.labels.key, g.series.total[0]])).toEqual([
      ['a', 1],
      ['b', 1],
      ['other', 2],
    ]);
  });
});
