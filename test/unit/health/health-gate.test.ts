import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HealthGate, ShadowResult } from '../../../src/health/health-gate.js';
import { chatRequest } from '../../fixtures/requests.js';
import { A, B, ProbedProvider, ROUTE, fail, flush, metricValue, ok, setup } from './helpers.js';

const { openMs } = ROUTE.breaker;
const { intervalMs, timeoutMs: probeTimeoutMs } = ROUTE.healthCheck;

/** Four live failures: over minRequests (4) at 100% ≥ errorPercent (50). */
async function trip(gate: HealthGate, target = A) {
  for (let i = 0; i < 4; i++) gate.record('chat', target, fail('server'));
  await flush();
}

/** Trips A and lets its first probe pass. */
async function toProbation(gate: HealthGate) {
  await trip(gate);
  await vi.advanceTimersByTimeAsync(openMs);
  expect(gate.target('a', 'm')?.state).toBe('probation');
}

/** A random() that returns the given values in turn. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe('health gate', () => {
  let env: ReturnType<typeof setup>;
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2025-01-01T00:00:00Z') });
  });
  afterEach(() => {
    env?.gate.close();
    vi.useRealTimers();
  });

  describe('healthy → open', () => {
    it('admits live traffic while healthy and opens once the breaker trips, keeping the error', async () => {
      env = setup();
      const { gate, registry } = env;
      expect(gate.admits('chat', A)).toBe(true);
      gate.record('chat', A, ok());
      gate.record('chat', A, fail('server'));
      gate.record('chat', A, ok());
      await flush();
      expect(gate.target('a', 'm')?.state).toBe('healthy');
      gate.record('chat', A, fail('timeout'));
      await flush();

      const view = gate.target('a', 'm')!;
      expect(view.state).toBe('open');
      expect(view.openedAt).toBe('2025-01-01T00:00:00.000Z');
      expect(view.lastError).toMatchObject({ source: 'live', kind: 'timeout', message: 'a: scripted timeout' });
      expect(gate.admits('chat', A)).toBe(false);
      expect(gate.admits('chat', B)).toBe(true);
      expect(await metricValue(registry, 'llm_router_breaker_state', { provider: 'a', model: 'm', state: 'open' })).toBe(1);
      expect(await metricValue(registry, 'llm_router_breaker_state', { provider: 'a', model: 'm', state: 'healthy' })).toBe(0);
      expect(await metricValue(registry, 'llm_router_breaker_transitions_total', { provider: 'a', from: 'healthy', to: 'open' })).toBe(1);
    });

    it.each(['invalid_request', 'auth', 'not_found'] as const)('never opens on caller errors (%s)', async (kind) => {
      env = setup();
      for (let i = 0; i < 20; i++) env.gate.record('chat', A, fail(kind));
      await flush();
      expect(env.gate.target('a', 'm')).toMatchObject({ state: 'healthy', breaker: { calls: 20, failures: 0 } });
    });

    it('counts live requests turned away while open', async () => {
      env = setup();
      await trip(env.gate);
      env.gate.admits('chat', A);
      env.gate.admits('chat', A);
      expect(env.gate.target('a', 'm')?.breaker.rejects).toBe(2);
    });
  });

  describe('open → probation (active probes)', () => {
    it('does not probe before openMs, then probes every intervalMs while the probe fails', async () => {
      env = setup();
      const { gate, a } = env;
      a.healthy = false;
      await trip(gate);
      expect(gate.target('a', 'm')?.probes.next).toBe(new Date(Date.now() + openMs).toISOString());
      await vi.advanceTimersByTimeAsync(openMs - 1);
      expect(a.probes).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(a.probes).toBe(1);
      await vi.advanceTimersByTimeAsync(intervalMs * 3);
      expect(a.probes).toBe(4);
      const view = gate.target('a', 'm')!;
      expect(view.state).toBe('open');
      expect(view.probes).toMatchObject({ failed: 4, passed: 0, last: { outcome: 'fail' } });
      expect(gate.admits('chat', A)).toBe(false);
      expect(await metricValue(env.registry, 'llm_router_health_probes_total', { provider: 'a', outcome: 'fail' })).toBe(4);
    });

    it('treats a probe that does not answer within healthCheck.timeoutMs as failed', async () => {
      env = setup();
      env.a.healthHangs = true;
      await trip(env.gate);
      await vi.advanceTimersByTimeAsync(openMs + probeTimeoutMs);
      expect(env.gate.target('a', 'm')).toMatchObject({ state: 'open', probes: { last: { outcome: 'timeout' } } });
    });

    it('moves to probation when a probe passes; probation admits no live traffic', async () => {
      env = setup();
      env.a.healthy = false;
      await trip(env.gate);
      await vi.advanceTimersByTimeAsync(openMs);
      env.a.healthy = true;
      await vi.advanceTimersByTimeAsync(intervalMs);
      const view = env.gate.target('a', 'm')!;
      expect(view.state).toBe('probation');
      expect(view.probation).toEqual({ good: 0, promoteAfter: 3, sampleRate: 0.5 });
      expect(view.probes.next).toBeNull();
      expect(env.gate.admits('chat', A)).toBe(false);
      // No more probes once on probation.
      await vi.advanceTimersByTimeAsync(intervalMs * 4);
      expect(env.a.probes).toBe(2);
    });
  });

  describe('last resort', () => {
    it('admits a probation target only on the second pass, never an open or drained one', async () => {
      env = setup();
      await toProbation(env.gate);
      expect(env.gate.admits('chat', A)).toBe(false);
      expect(env.gate.admits('chat', A, { lastResort: true })).toBe(true);

      await trip(env.gate, B);
      expect(env.gate.admits('chat', B, { lastResort: true })).toBe(false);
      env.gate.drain('a', 'm');
      expect(env.gate.admits('chat', A, { lastResort: true })).toBe(false);
    });

    it('counts live last-resort successes towards promotion and a live failure sends it back to open', async () => {
      env = setup();
      await toProbation(env.gate);
      env.gate.record('chat', A, ok());
      env.gate.record('chat', A, fail('invalid_request')); // the caller's fault: neither good nor bad
      expect(env.gate.target('a', 'm')?.probation?.good).toBe(1);
      env.gate.record('chat', A, fail('network'));
      expect(env.gate.target('a', 'm')).toMatchObject({ state: 'open', lastError: { source: 'live', kind: 'network' } });

      await vi.advanceTimersByTimeAsync(openMs);
      for (let i = 0; i < 3; i++) env.gate.record('chat', A, ok());
      expect(env.gate.target('a', 'm')?.state).toBe('healthy');
    });
  });

  describe('probation: shadow traffic', () => {
    it('mirrors a sampled share of live requests, streamed as the live ones were, in the background', async () => {
      env = setup({ random: sequence(0.1, 0.9, 0.3, 0.7) });
      await toProbation(env.gate);
      for (let i = 0; i < 4; i++) env.gate.served('chat', chatRequest({ stream: true, stream_options: { include_usage: true } }), B);
      await flush();
      expect(env.a.calls).toHaveLength(2);
      const sent = env.a.calls[0]!.req;
      expect(sent).toMatchObject({ stream: true, includeUsage: false, meta: { requestId: 'test.shadow' } });
      expect(sent.passthrough).not.toHaveProperty('stream_options');
      expect(env.gate.target('a', 'm')?.shadow.lastTtftMs).toEqual(expect.any(Number));
      expect(env.a.calls[0]!.target).toEqual(A);
      expect(env.gate.target('a', 'm')?.probation?.good).toBe(2);
    });

    it('does not mirror to the target that served the request, nor a request it cannot serve', async () => {
      env = setup({ random: () => 0 });
      await toProbation(env.gate);
      env.gate.served('chat', chatRequest(), A);
      env.a.caps = { ...env.a.caps, tools: false };
      env.gate.served('chat', chatRequest({ tools: [{ type: 'function', function: { name: 'f' } }] }), B);
      await flush();
      expect(env.a.calls).toHaveLength(0);
    });

    it('does not mirror while healthy or open', async () => {
      env = setup({ random: () => 0 });
      env.gate.served('chat', chatRequest(), B);
      await trip(env.gate);
      env.gate.served('chat', chatRequest(), B);
      await flush();
      expect(env.a.calls).toHaveLength(0);
    });

    it('caps shadow calls in flight per target and skips samples over the cap', async () => {
      env = setup({ random: () => 0, a: new ProbedProvider('a', { hang: true }) });
      await toProbation(env.gate);
      for (let i = 0; i < 3; i++) env.gate.served('chat', chatRequest(), B);
      await flush();
      expect(env.a.calls).toHaveLength(2);
      expect(env.gate.target('a', 'm')?.shadow).toMatchObject({ inFlight: 2, maxConcurrent: 2, skipped: 1 });
      expect(await metricValue(env.registry, 'llm_router_shadow_calls_total', { provider: 'a', outcome: 'skipped' })).toBe(1);
    });

    it('promotes after promoteAfter good shadow calls, with a clean breaker window', async () => {
      env = setup({ random: () => 0 });
      await toProbation(env.gate);
      for (let i = 0; i < 2; i++) {
        // One at a time: more than maxConcurrent at once would be skipped.
        env.gate.served('chat', chatRequest(), B);
        await flush();
      }
      expect(env.gate.target('a', 'm')).toMatchObject({ state: 'probation', probation: { good: 2 } });
      env.gate.served('chat', chatRequest(), B);
      await flush();
      const view = env.gate.target('a', 'm')!;
      expect(view.state).toBe('healthy');
      expect(view.openedAt).toBeNull();
      expect(view.breaker).toMatchObject({ calls: 0, failures: 0 });
      expect(view.shadow).toMatchObject({ good: 3, bad: 0, lastOutcome: 'good', lastLatencyMs: 0 });
      expect(env.gate.admits('chat', A)).toBe(true);
      expect(await metricValue(env.registry, 'llm_router_breaker_transitions_total', { provider: 'a', from: 'probation', to: 'healthy' })).toBe(1);
      expect(await metricValue(env.registry, 'llm_router_shadow_calls_total', { provider: 'a', outcome: 'good' })).toBe(3);
      // A single failure now is judged by the new window, not the one that opened it.
      env.gate.record('chat', A, fail('server'));
      await flush();
      expect(env.gate.target('a', 'm')?.state).toBe('healthy');
    });

    it.each([
      ['an error', { fail: 'server' as const }, chatRequest(), 'server'],
      ['empty output', { ok: '' }, chatRequest(), 'bad_output'],
      ['invalid JSON when JSON was asked', { ok: 'Here you go: {"a": 1}' }, chatRequest({ response_format: { type: 'json_object' } }), 'bad_output'],
    ])('sends the target back to open after one bad shadow call: %s', async (_name, step, req, kind) => {
      env = setup({ random: () => 0 });
      await toProbation(env.gate);
      env.gate.served('chat', chatRequest(), B); // one good call first
      await flush();
      env.a.script(step);
      env.gate.served('chat', req, B);
      await flush();
      const view = env.gate.target('a', 'm')!;
      expect(view.state).toBe('open');
      expect(view.lastError).toMatchObject({ source: 'shadow', kind });
      expect(view.shadow).toMatchObject({ good: 1, bad: 1, lastOutcome: 'bad' });
      // Probes start over: the full openMs of rest first.
      const probes = env.a.probes;
      await vi.advanceTimersByTimeAsync(openMs - 1);
      expect(env.a.probes).toBe(probes);
      await vi.advanceTimersByTimeAsync(1);
      expect(env.a.probes).toBe(probes + 1);
      expect(env.gate.target('a', 'm')?.probation).toEqual({ good: 0, promoteAfter: 3, sampleRate: 0.5 });
    });

    it('accepts valid JSON when JSON was asked', async () => {
      env = setup({ random: () => 0, a: new ProbedProvider('a', { ok: '{"a":1}' }) });
      await toProbation(env.gate);
      env.gate.served('chat', chatRequest({ response_format: { type: 'json_object' } }), B);
      await flush();
      expect(env.gate.target('a', 'm')).toMatchObject({ state: 'probation', probation: { good: 1 } });
    });

    it('judges a shadow call that outlives shadow.timeoutMs bad and cancels the others in flight', async () => {
      env = setup({ random: () => 0, a: new ProbedProvider('a', { hang: true }) });
      await toProbation(env.gate);
      env.gate.served('chat', chatRequest(), B);
      await vi.advanceTimersByTimeAsync(400);
      env.gate.served('chat', chatRequest(), B);
      await vi.advanceTimersByTimeAsync(600);
      const view = env.gate.target('a', 'm')!;
      expect(view.state).toBe('open');
      expect(view.lastError).toMatchObject({ kind: 'timeout' });
      expect(view.shadow).toMatchObject({ bad: 1, cancelled: 1, inFlight: 0 });
    });

    it('treats an upstream invalid_request as inconclusive', async () => {
      env = setup({ random: () => 0 });
      await toProbation(env.gate);
      env.a.script({ fail: 'invalid_request' });
      env.gate.served('chat', chatRequest(), B);
      await flush();
      expect(env.gate.target('a', 'm')).toMatchObject({ state: 'probation', probation: { good: 0 }, shadow: { inconclusive: 1 } });
    });

    it('reports each shadow call to onShadow and counts its tokens as shadow traffic', async () => {
      const seen: ShadowResult[] = [];
      env = setup({ random: () => 0, onShadow: (r) => seen.push(r) });
      await toProbation(env.gate);
      env.gate.served('chat', chatRequest(), B);
      await flush();
      expect(seen).toEqual([expect.objectContaining({ route: 'chat', target: A, outcome: 'good', requestId: 'test.shadow', usage: expect.objectContaining({ promptTokens: 3 }) })]);
      const tokens = (env.metrics.tokens as unknown as { seen: Array<{ labels: Record<string, string>; value: number }> }).seen;
      expect(tokens).toEqual([
        { labels: { route: 'chat', provider: 'a', type: 'prompt', traffic: 'shadow' }, value: 3 },
        { labels: { route: 'chat', provider: 'a', type: 'completion', traffic: 'shadow' }, value: 2 },
      ]);
    });

    it('never lets a failure escape into the live path', async () => {
      env = setup({ random: () => 0, onShadow: () => { throw new Error('hook broke'); } });
      await toProbation(env.gate);
      env.a.capabilities = () => { throw new Error('caps broke'); };
      expect(() => env.gate.served('chat', chatRequest(), B)).not.toThrow();
      env.a.capabilities = () => env.a.caps;
      env.gate.served('chat', chatRequest(), B);
      await flush();
      expect(env.gate.target('a', 'm')?.probation?.good).toBe(1);
    });
  });

  describe('lifecycle', () => {
    it('close() stops every timer and cancels shadow calls', async () => {
      env = setup({ random: () => 0, a: new ProbedProvider('a', { hang: true }) });
      await toProbation(env.gate);
      await trip(env.gate, B);
      env.gate.served('chat', chatRequest(), { provider: 'x', model: 'y' });
      await flush();
      expect(env.gate.target('a', 'm')?.shadow.inFlight).toBe(1);
      env.gate.close();
      await flush();
      expect(vi.getTimerCount()).toBe(0);
      expect(env.gate.target('a', 'm')?.shadow).toMatchObject({ inFlight: 0, cancelled: 1 });
    });

    it('close() does not wait for a probe in flight', async () => {
      env = setup();
      env.a.healthHangs = true;
      await trip(env.gate);
      await vi.advanceTimersByTimeAsync(openMs);
      expect(env.a.probes).toBe(1);
      env.gate.close();
      await flush();
      expect(vi.getTimerCount()).toBe(0);
      expect(env.gate.target('a', 'm')?.probes.last).toBeNull();
    });

    it('carries states into the gate built for a reloaded config', async () => {
      const first = setup();
      await trip(first.gate);
      first.gate.drain('b', 'm', { reason: 'maintenance' });
      await vi.advanceTimersByTimeAsync(300);
      // Same provider a instance (config unchanged); b rebuilt: its drain still holds.
      const b2 = new ProbedProvider('b');
      env = setup({ a: first.a, b: b2, previous: first.gate });
      first.gate.close();
      expect(env.gate.target('a', 'm')).toMatchObject({ state: 'open', lastError: { kind: 'server' }, openedAt: '2025-01-01T00:00:00.000Z' });
      expect(env.gate.target('b', 'm')).toMatchObject({ state: 'drained', drain: { reason: 'maintenance' } });
      expect(env.gate.admits('chat', A)).toBe(false);
      // The probe keeps its schedule: due openMs after opening, 300 ms of which have passed.
      await vi.advanceTimersByTimeAsync(openMs - 300);
      expect(env.gate.target('a', 'm')?.state).toBe('probation');
      expect(b2.probes).toBe(0);
    });

    it('starts a target fresh when its provider was rebuilt', async () => {
      const first = setup();
      await trip(first.gate);
      env = setup({ previous: first.gate });
      first.gate.close();
      expect(env.gate.target('a', 'm')?.state).toBe('healthy');
    });
  });
});
