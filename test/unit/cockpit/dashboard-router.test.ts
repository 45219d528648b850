import express from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDashboardRouter, type DashboardDeps, type DashboardRouter } from '../../../src/cockpit/dashboard-router.js';
import { KeyServiceError } from '../../../src/identity/key-service.js';
import type { KeyView } from '../../../src/identity/key-view.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { setup } from '../health/helpers.js';

const ADMIN = 'admin-key-for-the-dashboard-0123';

const keyView = (id: string, source: KeyView['source'] = 'api'): KeyView => ({ id, name: `name-${id}`, team: 'ml', createdAt: '2025-01-01T00:00:00.000Z', source, status: 'active', prefix: 'sk-rt-ab', secrets: [] });

describe('dashboard router: login, sessions, CSRF, actions', () => {
  let env: ReturnType<typeof setup>;
  let adminKeys: string[];
  let open: boolean;
  let dash: DashboardRouter;
  let app: express.Express;
  const revoked: string[] = [];

  const build = (extra: Partial<DashboardDeps> = {}) => {
    dash?.close();
    dash = createDashboardRouter({
      gate: () => env.gate,
      registry: createMetrics().registry,
      adminKeys: () => adminKeys,
      open: () => open,
      keys: () => ({
        list: async () => [keyView('k1'), keyView('cfg', 'config')],
        revoke: async (id) => {
          if (id === 'cfg') throw new KeyServiceError('read_only', `Key 'cfg' is declared in the config and cannot be revoked here.`);
          if (id !== 'k1') throw new KeyServiceError('not_found', `No key with id '${id}'.`);
          revoked.push(id);
          return { ...keyView(id), status: 'revoked', revokedAt: '2025-01-01T00:00:01.000Z' };
        },
      }),
      sampleIntervalMs: 0,
      ...extra,
    });
    app = express();
    app.set('trust proxy', false);
    app.use('/dashboard', dash);
  };

  beforeEach(() => {
    env = setup();
    adminKeys = [ADMIN];
    open = false;
    revoked.length = 0;
    build();
  });
  afterEach(() => {
    dash.close();
    env.gate.close();
  });

  /** Logs in; returns the cookie pair to send back and the CSRF token. */
  const login = async () => {
    const res = await request(app).post('/dashboard/login').send({ key: ADMIN }).expect(200);
    const setCookie = String(res.headers['set-cookie']);
    return { cookie: setCookie.split(';')[0]!, csrf: res.body.csrf as string, setCookie };
  };

  it('serves the page under /dashboard/ with a strict CSP, and its assets', async () => {
    await request(app).get('/dashboard').expect(302).expect('location', '/dashboard/');
    await request(app).get('/dashboard?x=1').expect(302).expect('location', '/dashboard/?x=1');
    const page = await request(app).get('/dashboard/').expect(200).expect('content-type', /text\/html/);
    expect(page.text).toContain('<form id="login-form"');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.text).not.toMatch(/\son[a-z]+=/i); // no inline handlers (the CSP would block them)
    await request(app).get('/dashboard/app.js').expect(200).expect('content-type', /javascript/);
    await request(app).get('/dashboard/style.css').expect(200).expect('content-type', /css/);
    await request(app).get('/dashboard/../package.json').expect(404);
  });

  it('logs in with the admin key: an HttpOnly, SameSite=Strict cookie on /dashboard holding a random token, never the key', async () => {
    await request(app).get('/dashboard/api/session').expect(401);
    await request(app).get('/dashboard/api/live').expect(401);
    const { cookie, csrf, setCookie } = await login();
    expect(setCookie).toMatch(/^llmr_dashboard=[\w-]{43}; Path=\/dashboard; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(ADMIN);
    expect(csrf).toMatch(/^[\w-]{43}$/);
    const s = await request(app).get('/dashboard/api/session').set('cookie', cookie).expect(200);
    expect(s.body).toMatchObject({ csrf, via: 'key', keyId: 'key-0' });
    const live = await request(app).get('/dashboard/api/live?window=15m').set('cookie', cookie).expect(200);
    expect(live.headers['cache-control']).toBe('no-store');
    expect(live.body).toMatchObject({ window: '15m', health: 'on' });
    expect(live.body.targets.map((t: { provider: string; state: string }) => [t.provider, t.state])).toEqual([
      ['a', 'healthy'],
      ['b', 'healthy'],
    ]);
  });

  it('refuses a wrong key, and a form login answers with redirects', async () => {
    const bad = await request(app).post('/dashboard/login').send({ key: 'nope' }).expect(401);
    expect(bad.body.error.code).toBe('invalid_api_key');
    expect(bad.headers['set-cookie']).toBeUndefined();
    await request(app).post('/dashboard/login').type('form').send({ key: 'nope' }).expect(303).expect('location', '/dashboard/?login=invalid_api_key');
    const ok = await request(app).post('/dashboard/login').type('form').send({ key: ADMIN }).expect(303).expect('location', '/dashboard/');
    expect(String(ok.headers['set-cookie'])).toContain('HttpOnly');
  });

  it('rate-limits failed logins per client, even for the right key once locked out', async () => {
    build({ login: { perClient: 3, windowMs: 60_000 } });
    for (let i = 0; i < 3; i++) await request(app).post('/dashboard/login').send({ key: `wrong-${i}` }).expect(401);
    const locked = await request(app).post('/dashboard/login').send({ key: ADMIN }).expect(429);
    expect(locked.body.error.code).toBe('too_many_login_attempts');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('needs the CSRF header for actions, then drains, releases and restores through the gate', async () => {
    const { cookie, csrf } = await login();
    const drain = (headers: Record<string, string>) => request(app).post('/dashboard/api/targets/a/m/drain').set(headers).send({ reason: 'incident 7' });
    expect((await drain({ cookie }).expect(403)).body.error.code).toBe('csrf_token_invalid');
    await drain({ cookie, 'x-csrf-token': `${csrf}x` }).expect(403);
    await drain({ 'x-csrf-token': csrf }).expect(401);
    expect(env.gate.target('a', 'm')!.state).toBe('healthy');
    const done = await drain({ cookie, 'x-csrf-token': csrf }).expect(200);
    expect(done.body).toMatchObject({ provider: 'a', state: 'drained', drain: { by: 'dashboard:key-0', reason: 'incident 7' } });
    expect(env.gate.target('a', 'm')!.state).toBe('drained');
    const live = await request(app).get('/dashboard/api/live').set('cookie', cookie).expect(200);
    expect(live.body.transitions[0]).toMatchObject({ provider: 'a', from: 'healthy', to: 'drained', reason: 'drained by dashboard:key-0: incident 7' });
    await request(app).post('/dashboard/api/targets/a/m/release').set({ cookie, 'x-csrf-token': csrf }).expect(200);
    expect(env.gate.target('a', 'm')!.state).toBe('open');
    const again = await request(app).post('/dashboard/api/targets/a/m/release').set({ cookie, 'x-csrf-token': csrf }).expect(409);
    expect(again.body.error.code).toBe('not_drained');
    await request(app).post('/dashboard/api/targets/a/m/restore').set({ cookie, 'x-csrf-token': csrf }).expect(200);
    expect(env.gate.target('a', 'm')!.state).toBe('healthy');
    await request(app).post('/dashboard/api/targets/zz/m/drain').set({ cookie, 'x-csrf-token': csrf }).expect(404);
    await request(app).post('/dashboard/api/targets/a/m/explode').set({ cookie, 'x-csrf-token': csrf }).expect(404);
  });

  it('refuses requests made by pages of other origins, whatever they carry', async () => {
    const { cookie, csrf } = await login();
    await request(app).post('/dashboard/login').set('origin', 'https://evil.example').send({ key: ADMIN }).expect(403);
    await request(app).post('/dashboard/login').set('sec-fetch-site', 'cross-site').send({ key: ADMIN }).expect(403);
    await request(app).get('/dashboard/api/live').set({ cookie, 'sec-fetch-site': 'same-site' }).expect(403);
    await request(app).post('/dashboard/api/targets/a/m/drain').set({ cookie, 'x-csrf-token': csrf, origin: 'null' }).expect(403);
    expect(env.gate.target('a', 'm')!.state).toBe('healthy');
    // The page's own requests say same-origin.
    await request(app).get('/dashboard/api/live').set({ cookie, 'sec-fetch-site': 'same-origin' }).expect(200);
  });

  it('ends sessions on logout and when their admin key leaves the config', async () => {
    const a = await login();
    await request(app).post('/dashboard/logout').set('cookie', a.cookie).expect(204).expect('set-cookie', /llmr_dashboard=; Path=\/dashboard; Max-Age=0/);
    await request(app).get('/dashboard/api/session').set('cookie', a.cookie).expect(401);
    const b = await login();
    adminKeys = ['another-key-entirely'];
    await request(app).get('/dashboard/api/live').set('cookie', b.cookie).expect(401);
    adminKeys = [ADMIN];
    await request(app).get('/dashboard/api/live').set('cookie', b.cookie).expect(401); // gone for good
  });

  it('is disabled without admin keys (unless open on loopback)', async () => {
    adminKeys = [];
    const res = await request(app).post('/dashboard/login').send({ key: 'anything' }).expect(401);
    expect(res.body.error.code).toBe('dashboard_disabled');
    expect((await request(app).get('/dashboard/api/session').expect(401)).body.error.code).toBe('dashboard_disabled');
  });

  it('on the loopback operator listener, starts a session without a key for loopback names only (no DNS rebinding)', async () => {
    open = true;
    adminKeys = [];
    const s = await request(app).get('/dashboard/api/session').expect(200);
    expect(s.body.via).toBe('loopback');
    const cookie = String(s.headers['set-cookie']).split(';')[0]!;
    await request(app).post('/dashboard/api/targets/b/m/drain').set({ cookie, 'x-csrf-token': s.body.csrf }).expect(200);
    expect(env.gate.target('b', 'm')!.drain?.by).toBe('dashboard:loopback');
    // A page of evil.example whose name resolves to 127.0.0.1 sends its own Host.
    await request(app).get('/dashboard/api/session').set('host', 'evil.example:9090').expect(401);
    await request(app).get('/dashboard/api/live').set({ cookie, host: 'evil.example:9090' }).expect(401);
    open = false;
    await request(app).get('/dashboard/api/session').expect(401);
  });

  it('lists keys and revokes one (CSRF), refusing config keys', async () => {
    const { cookie, csrf } = await login();
    const list = await request(app).get('/dashboard/api/keys').set('cookie', cookie).expect(200);
    expect(list.body.data.map((k: { id: string }) => k.id)).toEqual(['k1', 'cfg']);
    expect(JSON.stringify(list.body)).not.toContain('secrets');
    await request(app).post('/dashboard/api/keys/k1/revoke').set('cookie', cookie).expect(403);
    expect(revoked).toEqual([]);
    const r = await request(app).post('/dashboard/api/keys/k1/revoke').set({ cookie, 'x-csrf-token': csrf }).expect(200);
    expect(r.body).toMatchObject({ id: 'k1', status: 'revoked' });
    expect(revoked).toEqual(['k1']);
    expect((await request(app).post('/dashboard/api/keys/cfg/revoke').set({ cookie, 'x-csrf-token': csrf }).expect(409)).body.error.code).toBe('key_read_only');
    await request(app).post('/dashboard/api/keys/nope/revoke').set({ cookie, 'x-csrf-token': csrf }).expect(404);
  });

  it('answers 503 for keys and the ledger while the state backend is not open', async () => {
    build({ keys: () => undefined, usage: () => undefined });
    const { cookie } = await login();
    await request(app).get('/dashboard/api/keys').set('cookie', cookie).expect(503);
    await request(app).get('/dashboard/api/usage').set('cookie', cookie).expect(503);
  });

  it('samples on a timer until closed', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const registry = createMetrics().registry;
      const spy = vi.spyOn(registry, 'getSingleMetric');
      const d = createDashboardRouter({ gate: () => undefined, registry, adminKeys: () => [ADMIN], sampleIntervalMs: 1000 });
      await vi.advanceTimersByTimeAsync(0);
      const first = spy.mock.calls.length; // the reading at creation
      await vi.advanceTimersByTimeAsync(3_000);
      const calls = spy.mock.calls.length;
      expect(calls).toBeGreaterThanOrEqual(first * 4);
      d.close();
      await vi.advanceTimersByTimeAsync(3_000);
      expect(spy.mock.calls.length).toBe(calls);
    } finally {
      vi.useRealTimers();
    }
  });
});
