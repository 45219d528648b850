import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import OpenAI from 'openai';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetControls } from '../../src/cockpit/dashboard-router.js';
import { createDashboardRouter, type DashboardRouter } from '../../src/cockpit/dashboard-router.js';
import type { AdminResult } from '../../src/health/health-gate.js';
import type { TargetView } from '../../src/health/target-health.js';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/**
 * The operator's dashboard in a real Chromium (playwright-core with the Debian package, no
 * browser download) against the real router on loopback, in front of two fake OpenAI
 * upstreams: sign in, watch a target's breaker open when its upstream fails, see the fallback
 * and the request's cost, drain the target through the confirmation dialog, revoke a key,
 * sign out. Screenshots go to test-artifacts/dashboard/.
 */

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);

/**
 * false while src/edge/app.ts does not mount the dashboard: the test then serves it from an
 * express app of its own in front of the harness's app (every other path goes to the real
 * app), with a gate that calls /admin/targets. Set to true once app.ts mounts
 * `createDashboardRouter` at /dashboard: the test then uses the router's own listener.
 */
const MOUNTED_IN_APP = true;

const ADMIN = 'admin-key-for-the-dashboard-test-0123';
const MODEL = 'gpt-4o-mini';
const ARTIFACTS = path.resolve('test-artifacts', 'dashboard');

/** The health gate reached through the router's own /admin API (only while the app does not mount the dashboard). */
function remoteGate(url: string): TargetControls {
  const call = async (method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${url}/admin${p}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const result = (r: { status: number; body: any }): AdminResult => (r.status === 200 ? { ok: true, target: r.body as TargetView } : { ok: false, code: r.body.error.code, message: r.body.error.message });
  const target = (provider: string, model: string) => `/targets/${encodeURIComponent(provider)}/${encodeURIComponent(model)}`;
  return {
    targets: async () => (await call('GET', '/targets')).body.data as TargetView[],
    drain: async (provider, model, note) => result(await call('POST', `${target(provider, model)}/drain`, { reason: note?.reason })),
    release: async (provider, model) => result(await call('POST', `${target(provider, model)}/release`, {})),
    restore: async (provider, model) => result(await call('POST', `${target(provider, model)}/restore`, {})),
  };
}

/** Serves the dashboard in front of the harness's app; returns its base URL and a closer. */
async function serveDashboard(h: RouterHarness): Promise<{ base: string; close: () => Promise<void> }> {
  if (MOUNTED_IN_APP) return { base: h.url, close: async () => {} };
  const dash: DashboardRouter = createDashboardRouter({
    gate: () => remoteGate(h.url),
    registry: h.metrics.registry,
    adminKeys: () => h.server.runtime.config().auth.adminKeys,
    keys: () => h.server.policies.keyService(),
    usage: () => h.server.policies.state()?.usage,
  });
  const wrap = express();
  wrap.use('/dashboard', dash);
  wrap.use(h.app);
  const server = http.createServer(wrap);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      dash.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const title = HAVE_CHROMIUM ? 'operator dashboard in Chromium' : `operator dashboard in Chromium: SKIPPED, ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`;

describe.skipIf(!HAVE_CHROMIUM)(title, () => {
  let primary: FakeUpstream;
  let backup: FakeUpstream;
  let h: RouterHarness;
  let served: Awaited<ReturnType<typeof serveDashboard>>;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  let appKey: { id: string; secret: string };

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  const admin = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${h.url}/admin${p}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    primary = await startFakeUpstream();
    backup = await startFakeUpstream();
    h = await startRouter(`
auth:
  adminKeys: [${ADMIN}]
  requireKeys: true
  keySecret: "a-server-secret-for-hashing-keys-dashboard-0"
providers:
  primary: { kind: openai, apiKeys: [sk-primary], baseURL: "${primary.url}/v1" }
  backup: { kind: openai, apiKeys: [sk-backup], baseURL: "${backup.url}/v1" }
routes:
  chat:
    targets: [{ provider: primary, model: ${MODEL} }, { provider: backup, model: ${MODEL} }]
    retry: { attempts: 1 }
    breaker: { errorPercent: 50, minRequests: 2, windowMs: 60000, openMs: 600000 }
`);
    await h.synced();
    const made = await admin('POST', '/keys', { name: 'checkout-service', team: 'payments' });
    expect(made.status).toBe(201);
    appKey = { id: made.body.id, secret: made.body.secret };
    served = await serveDashboard(h);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
    context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await context.newPage();
    // CSP violations and script errors show up here (the 401s of signing in are expected).
    page.on('console', (m) => void (m.type() === 'error' && !/status of 401/.test(m.text()) && problems.push(m.text())));
    page.on('pageerror', (e) => void problems.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    await h?.close();
    await primary?.close();
    await backup?.close();
  });

  it('signs in with the admin key; the browser holds only an HttpOnly, SameSite=Strict session cookie', async () => {
    const res = await page.goto(`${served.base}/dashboard`);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
    await page.getByLabel('Admin key').waitFor();
    await shot('01-sign-in');
    await page.getByLabel('Admin key').fill('not-the-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('not an admin key');
    await page.getByLabel('Admin key').fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#app').waitFor({ state: 'visible' });
    expect(page.url()).toBe(`${served.base}/dashboard/`);
    const cookies = await context.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: 'llmr_dashboard', path: '/dashboard', httpOnly: true, sameSite: 'Strict' });
    expect(cookies[0]!.value).not.toContain(ADMIN);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await expect.poll(() => page.locator('tr[data-target="primary/gpt-4o-mini"]').getAttribute('data-state')).toBe('healthy');
  });

  it('shows the target going open when its upstream fails, the fallback, and the cost of the requests', async () => {
    primary.scriptAlways(() => ({ status: 500 }));
    const client = new OpenAI({ baseURL: h.baseURL, apiKey: appKey.secret, maxRetries: 0 });
    for (let i = 0; i < 3; i++) {
      const answer = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: `hello ${i}` }] });
      expect(answer.choices[0]!.message.content).toBe(`echo: hello ${i}`);
    }
    const row = page.locator('tr[data-target="primary/gpt-4o-mini"]');
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 10_000 }).toBe('open');
    expect(await row.locator('td.reason').textContent()).toMatch(/live server/);
    expect(await row.textContent()).toContain('100 % of 2');
    const fallback = page.locator('#fallbacks-table tr[data-from="primary/gpt-4o-mini"][data-to="backup/gpt-4o-mini"]');
    await expect.poll(() => fallback.count(), { timeout: 10_000 }).toBe(1);
    expect(await fallback.textContent()).toContain('server');
    const cost = page.locator(`#spend-keys tr[data-key="${appKey.id}"] [data-role="cost"]`);
    await expect.poll(async () => (await cost.count()) && (await cost.textContent()), { timeout: 10_000 }).toMatch(/^\$0\.0*[1-9]/);
    expect(await page.locator(`#spend-keys tr[data-key="${appKey.id}"]`).textContent()).toContain('payments');
    expect(await page.locator('#spend-teams tr[data-team="payments"]').count()).toBe(1);
    await expect.poll(() => page.locator('#routes-table tbody').textContent()).toContain('backup');
    await expect.poll(() => page.locator('#transitions').textContent()).toContain('healthy → open');
    await shot('02-target-open');
  });

  it('drains the open target after the confirmation dialog', async () => {
    const row = page.locator('tr[data-target="primary/gpt-4o-mini"]');
    const dialog = page.locator('dialog#confirm');
    // Cancel first: nothing happens.
    await row.getByRole('button', { name: 'Drain primary/gpt-4o-mini' }).click();
    await dialog.waitFor({ state: 'visible' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await admin('GET', '/targets/primary/gpt-4o-mini')).body.state).toBe('open');

    await row.getByRole('button', { name: 'Drain primary/gpt-4o-mini' }).click();
    await dialog.waitFor({ state: 'visible' });
    await dialog.getByLabel(/Reason/).fill('provider incident 1234');
    await shot('03-drain-dialog');
    await dialog.getByRole('button', { name: 'Drain' }).click();
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 10_000 }).toBe('drained');
    const target = (await admin('GET', '/targets/primary/gpt-4o-mini')).body;
    expect(target).toMatchObject({ state: 'drained', drain: { reason: 'provider incident 1234' } });
    expect(await row.locator('td.reason').textContent()).toContain('provider incident 1234');
    await expect.poll(() => page.locator('#transitions').textContent()).toContain('open → drained');
    expect(await row.getByRole('button', { name: 'Release primary/gpt-4o-mini' }).count()).toBe(1);
    await shot('04-target-drained');
  });

  it('revokes a key after the confirmation dialog; the key stops working', async () => {
    const row = page.locator(`#keys-table tr[data-key="${appKey.id}"]`);
    await row.getByRole('button', { name: 'Revoke key checkout-service' }).click();
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor({ state: 'visible' });
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 10_000 }).toBe('revoked');
    const res = await fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${appKey.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }) });
    expect(res.status).toBe(401);
  });

  it('switches the window, signs out, and broke no CSP rule on the way', async () => {
    await page.getByLabel('Window').selectOption('60m');
    await expect.poll(() => page.locator('#traffic-chart svg').getAttribute('aria-label')).toContain('last 60 min');
    await shot('05-window-60m');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin key').waitFor();
    const after = await page.request.get(`${served.base}/dashboard/api/live`);
    expect(after.status()).toBe(401);
    expect(problems).toEqual([]);
  });
});
