import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { createUsageMetrics, stateSnapshotOf, type StateSnapshot } from '../../../src/observability/usage-metrics.js';
import type { UsageRecord } from '../../../src/state/types.js';

function rec(extra: Partial<UsageRecord> = {}): UsageRecord {
  return {
    time: '2026-03-02T10:00:00.000Z',
    requestId: 'r',
    keyId: 'key_a',
    route: 'chat',
    provider: 'openai',
    model: 'gpt-4o',
    tokens: { prompt: 100, completion: 20 },
    costUsd: 0.25,
    latencyMs: 200,
    outcome: 'ok',
    stream: false,
    ...extra,
  };
}

/** The value of one series, by metric name and exact labels (undefined when absent). */
async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const want = JSON.stringify(Object.entries(labels).sort());
  return values.find((v) => JSON.stringify(Object.entries(v.labels).sort()) === want)?.value;
}

async function series(registry: Registry, name: string): Promise<Array<Record<string, string | number>>> {
  const { values } = await registry.getSingleMetric(name)!.get();
  return values.map((v) => v.labels as Record<string, string | number>);
}

describe('usage metrics', () => {
  it('counts cost, unknown cost and tokens by type', async () => {
    const registry = new Registry();
    const m = createUsageMetrics(registry);
    m.recordUsage(rec({ tokens: { prompt: 100, completion: 20, cachedPrompt: 60, reasoning: 5 } }));
    m.recordUsage(rec({ costUsd: 0.5 }));
    m.recordUsage(rec({ costUsd: null, provider: 'local', model: 'tiny' }));
    m.recordUsage(rec({ costUsd: 0, provider: 'local', model: 'free' }));
    const labels = { route: 'chat', provider: 'openai', model: 'gpt-4o', key: 'key_a' };
    expect(await value(registry, 'llm_router_cost_usd_total', labels)).toBe(0.75);
    // A free model is a series at 0, not missing; an unknown price is not a 0 cost.
    expect(await value(registry, 'llm_router_cost_usd_total', { ...labels, provider: 'local', model: 'free' })).toBe(0);
    expect(await value(registry, 'llm_router_cost_usd_total', { ...labels, provider: 'local', model: 'tiny' })).toBeUndefined();
    expect(await value(registry, 'llm_router_cost_unknown_total', { provider: 'local', model: 'tiny' })).toBe(1);
    expect(await value(registry, 'llm_router_key_tokens_total', { ...labels, type: 'prompt' })).toBe(200);
    expect(await value(registry, 'llm_router_key_tokens_total', { ...labels, type: 'completion' })).toBe(40);
    expect(await value(registry, 'llm_router_key_tokens_total', { ...labels, type: 'cached_prompt' })).toBe(60);
    expect(await value(registry, 'llm_router_key_tokens_total', { ...labels, type: 'reasoning' })).toBe(5);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE llm_router_cost_usd_total counter');
    expect(text).toContain('# TYPE llm_router_key_tokens_total counter');
  });

  it('names missing fields "none" and never throws on malformed records', async () => {
    const registry = new Registry();
    const m = createUsageMetrics(registry);
    m.recordUsage(rec({ keyId: undefined, provider: undefined, model: undefined }));
    const bad = rec({ costUsd: Number.NaN, tokens: { prompt: -5, completion: Number.POSITIVE_INFINITY, reasoning: 'x' as unknown as number } });
    expect(() => m.recordUsage(bad)).not.toThrow();
    expect(() => m.recordUsage({ ...rec(), tokens: undefined, route: undefined } as unknown as UsageRecord)).not.toThrow();
    expect(await value(registry, 'llm_router_cost_usd_total', { route: 'chat', provider: 'none', model: 'none', key: 'none' })).toBe(0.25);
    expect(await value(registry, 'llm_router_cost_unknown_total', { provider: 'openai', model: 'gpt-4o' })).toBe(1);
    expect(await value(registry, 'llm_router_key_tokens_total', { key: 'key_a', route: 'chat', provider: 'openai', model: 'gpt-4o', type: 'prompt' })).toBeUndefined();
  });

  it('caps distinct key label values; later keys count under "other"', async () => {
    const registry = new Registry();
    const m = createUsageMetrics(registry, { maxKeys: 3 });
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5', 'k1']) m.recordUsage(rec({ keyId: k, costUsd: 1 }));
    const keys = (await series(registry, 'llm_router_cost_usd_total')).map((l) => l.key).sort();
    expect(keys).toEqual(['k1', 'k2', 'k3', 'other']);
    expect(await value(registry, 'llm_router_cost_usd_total', { route: 'chat', provider: 'openai', model: 'gpt-4o', key: 'other' })).toBe(2);
    expect(await value(registry, 'llm_router_cost_usd_total', { route: 'chat', provider: 'openai', model: 'gpt-4o', key: 'k1' })).toBe(2);
    expect(m.keyLabels()).toBe(3);
    // The budget gauge of a key past the cap is not set (an "other" gauge would be meaningless).
    m.budgetUse('k2', 0.5);
    m.budgetUse('k9', 0.9);
    expect(await series(registry, 'llm_router_budget_use_ratio')).toEqual([{ key: 'k2' }]);
  });

  it('caps other labels too: made-up routes or models cannot grow the registry', async () => {
    const registry = new Registry();
    const m = createUsageMetrics(registry, { maxValues: 2 });
    for (let i = 0; i < 50; i++) m.recordUsage(rec({ route: `r${i}`, model: `m${i}` }));
    for (let i = 0; i < 50; i++) m.limitRefused(`r${i}`, `kind${i}`);
    const cost = await series(registry, 'llm_router_cost_usd_total');
    expect(new Set(cost.map((l) => l.route))).toEqual(new Set(['r0', 'r1', 'other']));
    expect(new Set(cost.map((l) => l.model))).toEqual(new Set(['m0', 'm1', 'other']));
    expect((await series(registry, 'llm_router_limit_refusals_total')).length).toBeLessThanOrEqual(3 * 3);
  });

  it('counts limit refusals and sets budget use', async () => {
    const registry = new Registry();
    const m = createUsageMetrics(registry);
    m.limitRefused('chat', 'requests');
    m.limitRefused('chat', 'requests');
    m.limitRefused('chat', 'budget');
    m.budgetUse('key_a', 0.42);
    m.budgetUse('key_a', 0.8);
    m.budgetUse('key_b', -1);
    m.budgetUse('key_c', Number.NaN);
    expect(await value(registry, 'llm_router_limit_refusals_total', { route: 'chat', kind: 'requests' })).toBe(2);
    expect(await value(registry, 'llm_router_limit_refusals_total', { route: 'chat', kind: 'budget' })).toBe(1);
    expect(await value(registry, 'llm_router_budget_use_ratio', { key: 'key_a' })).toBe(0.8);
    expect(await value(registry, 'llm_router_budget_use_ratio', { key: 'key_b' })).toBe(0);
    expect(await value(registry, 'llm_router_budget_use_ratio', { key: 'key_c' })).toBeUndefined();
  });

  it('state gauges: redis up, limiter mode one-hot, and counters that grow by the difference', async () => {
    const registry = new Registry();
    const m = createUsageMetrics(registry);
    const snap = (extra: Partial<StateSnapshot> = {}): StateSnapshot => ({
      backend: 'redis',
      healthy: true,
      usage: { queued: 3, written: 10, dropped: 0, failed: 0, spilled: 0 },
      limiter: { mode: 'shared', localReserves: 0, refused: 0, lostSettles: 0, transitions: 0 },
      redisInFlight: 2,
      ...extra,
    });
    m.stateStats(snap());
    expect(await value(registry, 'llm_router_state_up', { backend: 'redis' })).toBe(1);
    expect(await value(registry, 'llm_router_state_limiter_mode', { mode: 'shared' })).toBe(1);
    expect(await value(registry, 'llm_router_state_limiter_mode', { mode: 'local' })).toBe(0);
    expect(await value(registry, 'llm_router_usage_queue_depth')).toBe(3);
    expect(await value(registry, 'llm_router_state_redis_in_flight')).toBe(2);
    expect(await value(registry, 'llm_router_usage_records_total', { result: 'written' })).toBe(10);

    // Redis goes away: fail-open answers from local buckets.
    m.stateStats(snap({ healthy: false, limiter: { mode: 'local', localReserves: 7, refused: 0, lostSettles: 1, transitions: 1 }, usage: { queued: 0, written: 12, dropped: 0, failed: 0, spilled: 4 } }));
    expect(await value(registry, 'llm_router_state_up', { backend: 'redis' })).toBe(0);
    expect(await value(registry, 'llm_router_state_limiter_mode', { mode: 'shared' })).toBe(0);
    expect(await value(registry, 'llm_router_state_limiter_mode', { mode: 'local' })).toBe(1);
    expect(await value(registry, 'llm_router_state_local_reserves_total')).toBe(7);
    expect(await value(registry, 'llm_router_state_lost_settles_total')).toBe(1);
    expect(await value(registry, 'llm_router_state_limiter_transitions_total')).toBe(1);
    expect(await value(registry, 'llm_router_usage_records_total', { result: 'written' })).toBe(12);
    expect(await value(registry, 'llm_router_usage_records_total', { result: 'spilled' })).toBe(4);

    // A new backend (reload) starts its totals at 0: the counters keep growing, never go down.
    m.stateStats(snap({ limiter: { mode: 'shared', localReserves: 2, refused: 0, lostSettles: 0, transitions: 0 }, usage: { queued: 0, written: 1, dropped: 0, failed: 0 } }));
    expect(await value(registry, 'llm_router_state_local_reserves_total')).toBe(9);
    expect(await value(registry, 'llm_router_usage_records_total', { result: 'written' })).toBe(13);
  });

  it('the memory backend is up, with no limiter mode', async () => {
    const registry = new Registry();
    const m = createUsageMetrics(registry);
    m.stateStats(stateSnapshotOf({ kind: 'memory', healthy: () => true, stats: () => ({ usage: { queued: 1, written: 2, dropped: 0, failed: 0 } }) }));
    expect(await series(registry, 'llm_router_state_up')).toEqual([{ backend: 'memory' }]);
    expect(await value(registry, 'llm_router_state_up', { backend: 'memory' })).toBe(1);
    expect(await series(registry, 'llm_router_state_limiter_mode')).toEqual([]);
    expect(await value(registry, 'llm_router_usage_records_total', { result: 'written' })).toBe(2);
  });

  it('with a state getter, every scrape shows the snapshot of that moment', async () => {
    const registry = new Registry();
    let healthy = true;
    let written = 5;
    createUsageMetrics(registry, { state: () => ({ backend: 'redis', healthy, usage: { queued: 0, written, dropped: 0, failed: 0 }, limiter: { mode: healthy ? 'shared' : 'refusing', localReserves: 0, refused: healthy ? 0 : 3, lostSettles: 0, transitions: healthy ? 0 : 1 } }) });
    const first = await registry.metrics();
    expect(first).toContain('llm_router_state_up{backend="redis"} 1');
    expect(first).toContain('llm_router_usage_records_total{result="written"} 5');
    healthy = false;
    written = 8;
    const second = await registry.metrics();
    expect(second).toContain('llm_router_state_up{backend="redis"} 0');
    expect(second).toContain('llm_router_state_limiter_mode{mode="refusing"} 1');
    expect(second).toContain('llm_router_state_refused_total 3');
    expect(second).toContain('llm_router_usage_records_total{result="written"} 8');
  });

  it('a state getter that throws does not fail the scrape', async () => {
    const registry = new Registry();
    createUsageMetrics(registry, {
      state: () => {
        throw new Error('no backend');
      },
    });
    await expect(registry.metrics()).resolves.toContain('llm_router_state_up');
  });

  it('shares the registry with the router metrics: a series both define is one counter', async () => {
    const { createMetrics } = await import('../../../src/observability/metrics.js');
    const metrics = createMetrics();
    const m = createUsageMetrics(metrics.registry);
    m.recordUsage(rec({ costUsd: 0.5 }));
    expect(await value(metrics.registry, 'llm_router_cost_usd_total', { route: 'chat', provider: 'openai', model: 'gpt-4o', key: 'key_a' })).toBe(0.5);
    // Its own gauges are not shared: creating it twice on one registry is a mistake, and says so.
    expect(() => createUsageMetrics(metrics.registry, { prefix: 'llm_router_', maxKeys: 1 })).toThrow(/already been registered/);
  });

  it('refuses to reuse a series registered with other labels', async () => {
    const registry = new Registry();
    const { Counter } = await import('prom-client');
    new Counter({ name: 'llm_router_cost_usd_total', help: 'x', labelNames: ['route'], registers: [registry] });
    expect(() => createUsageMetrics(registry)).toThrow(/other labels/);
  });
});
