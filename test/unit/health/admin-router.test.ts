import express from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { routeSchema } from '../../../src/config/schema.js';
import { createAdminRouter } from '../../../src/health/admin-router.js';
import type { HealthGate } from '../../../src/health/health-gate.js';
import { A, ROUTE, fail, flush, setup } from './helpers.js';

/** The router as the app mounts it: under /admin, after express.json. */
function appFor(source: Parameters<typeof createAdminRouter>[0]) {
  const app = express();
  app.use('/admin', express.json(), createAdminRouter(source));
  return app;
}

describe('admin router', () => {
  let env: ReturnType<typeof setup>;
  let app: express.Express;
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2025-01-01T00:00:00Z'), toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    env = setup();
    app = appFor(env.gate);
  });
  afterEach(() => {
    env.gate.close();
    vi.useRealTimers();
  });

  it('lists every target with state, breaker window, probes, probation and shadows', async () => {
    for (let i = 0; i < 4; i++) env.gate.record('chat', A, fail('server'));
    await flush();
    const res = await request(app).get('/admin/targets').expect(200);
    expect(res.body.object).toBe('list');
    expect(res.body.data).toHaveLength(2);
    const a = res.body.data.find((t: { provider: string }) => t.provider === 'a');
    expect(a).toMatchObject({
      provider: 'a',
      model: 'm',
      state: 'open',
      openedAt: '2025-01-01T00:00:00.000Z',
      routes: ['chat'],
      lastError: { source: 'live', kind: 'server', message: 'a: scripted server' },
      breaker: { calls: 4, failures: 4, errorPercent: 100, windowMs: 10_000, opensAt: { errorPercent: 50, minRequests: 4 } },
      probes: { intervalMs: 500, next: '2025-01-01T00:00:01.000Z', passed: 0, failed: 0, last: null },
      probation: null,
      shadow: { inFlight: 0, maxConcurrent: 2, good: 0, bad: 0 },
      drain: null,
    });
  });

  it('drain holds a target: no live traffic and no probes until released', async () => {
    const res = await request(app).post('/admin/targets/a/m/drain').send({ reason: 'provider incident #42' }).expect(200);
    expect(res.body).toMatchObject({ state: 'drained', drain: { reason: 'provider incident #42' }, openedAt: '2025-01-01T00:00:00.000Z' });
    expect(env.gate.admits('chat', A)).toBe(false);
    await vi.advanceTimersByTimeAsync(ROUTE.breaker.openMs * 5);
    expect(env.a.probes).toBe(0);
    // Draining twice is harmless.
    await request(app).post('/admin/targets/a/m/drain').expect(200);

    const released = await request(app).post('/admin/targets/a/m/release').expect(200);
    expect(released.body).toMatchObject({ state: 'open', drain: null });
    await vi.advanceTimersByTimeAsync(ROUTE.breaker.openMs);
    expect(env.a.probes).toBe(1);
    expect(env.gate.target('a', 'm')?.state).toBe('probation');
  });

  it('restore forces a target healthy with a clean window', async () => {
    for (let i = 0; i < 4; i++) env.gate.record('chat', A, fail('server'));
    await flush();
    const res = await request(app).post('/admin/targets/a/m/restore').expect(200);
    expect(res.body).toMatchObject({ state: 'healthy', openedAt: null, breaker: { calls: 0 } });
    expect(env.gate.admits('chat', A)).toBe(true);
    await vi.advanceTimersByTimeAsync(ROUTE.breaker.openMs * 2);
    expect(env.a.probes).toBe(0);
  });

  it('refuses to release a target that is not drained', async () => {
    const res = await request(app).post('/admin/targets/a/m/release').expect(409);
    expect(res.body).toEqual({ error: { message: expect.stringContaining('healthy, not drained'), type: 'invalid_request_error', param: null, code: 'not_drained' } });
  });

  it('answers 404 in the OpenAI error shape for an unknown target', async () => {
    for (const [method, path] of [['get', '/admin/targets/a/nope'], ['post', '/admin/targets/zz/m/drain'], ['post', '/admin/targets/a/nope/restore']] as const) {
      const res = await request(app)[method](path).expect(404);
      expect(res.body).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'target_not_found' } });
    }
  });

  it('rejects a drain reason that is not a string', async () => {
    const res = await request(app).post('/admin/targets/a/m/drain').send({ reason: 42 }).expect(400);
    expect(res.body.error).toMatchObject({ param: 'reason', code: 'invalid_value' });
    expect(env.gate.target('a', 'm')?.state).toBe('healthy');
  });

  it('takes model names containing "/" URL-encoded', async () => {
    env.gate.close();
    const slashed = { provider: 'a', model: 'meta-llama/Llama-3.1-8B' };
    env = setup({ routes: { chat: routeSchema.parse({ ...ROUTE, targets: [slashed] }) } });
    app = appFor(env.gate);
    await request(app).get(`/admin/targets/a/${encodeURIComponent(slashed.model)}`).expect(200);
    const res = await request(app).post(`/admin/targets/a/${encodeURIComponent(slashed.model)}/drain`).expect(200);
    expect(res.body).toMatchObject({ model: 'meta-llama/Llama-3.1-8B', state: 'drained' });
    expect(env.gate.admits('chat', slashed)).toBe(false);
  });

  it('follows the gate in force when given a getter (the gate is rebuilt on reload)', async () => {
    let current: HealthGate | undefined;
    const live = appFor(() => current);
    expect((await request(live).get('/admin/targets').expect(200)).body).toEqual({ object: 'list', data: [] });
    await request(live).post('/admin/targets/a/m/drain').expect(404);
    current = env.gate;
    await request(live).post('/admin/targets/a/m/drain').expect(200);
    expect(env.gate.target('a', 'm')?.state).toBe('drained');
  });
});
