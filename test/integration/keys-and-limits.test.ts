import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costNanos } from '../../src/accounting/cost.js';
import { createPriceBook, loadPriceTable } from '../../src/accounting/prices.js';
import { parseConfig } from '../../src/config/load-config.js';
import { formatUsd } from '../../src/policies/request-meter.js';
import { authProblem } from '../../src/server.js';
import type { UsageRecord } from '../../src/state/types.js';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/**
 * Who may call, how much, at what cost: virtual keys made through /admin/keys, JWTs, route
 * restrictions, rpm/tpm/in-flight limits and budgets, cost headers and the usage ledger, on
 * the real app in front of a real (fake) OpenAI upstream, driven by the official SDK.
 */

const ADMIN = 'admin-key-for-tests';
const HS_SECRET = 'hs256-shared-secret-for-the-router-tests-0123';
const ISS = 'https://idp.test/';
const AUD = 'llm-router';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
const price = createPriceBook({ table: loadPriceTable() }).priceFor({ provider: 'up', providerKind: 'openai', model: 'gpt-4o-mini' });

describe('virtual keys, JWT, limits, budgets and cost', () => {
  let up: FakeUpstream;
  let h: RouterHarness;
  let dir: string;
  let rsKey: CryptoKey;
  let hook: http.Server;
  let yaml: string;
  const hooks: unknown[] = [];

  const admin = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${h.url}/admin${p}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const newKey = async (body: Record<string, unknown>) => {
    const r = await admin('POST', '/keys', { name: 'test', ...body });
    expect(r.status).toBe(201);
    return { id: r.body.id as string, secret: r.body.secret as string };
  };
  const sdk = (apiKey: string) => new OpenAI({ baseURL: h.baseURL, apiKey, maxRetries: 0 });
  const post = (key: string, body: Record<string, unknown>) =>
    fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'ping' }], max_tokens: 5, ...body }) });
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as APIError);
  const usageOf = async (key: string) => {
    const out: UsageRecord[] = [];
    for await (const r of h.server.policies.state()!.usage.query({ key })) out.push(r);
    return out;
  };

  beforeAll(async () => {
    up = await startFakeUpstream();
    dir = mkdtempSync(path.join(tmpdir(), 'keys-limits-'));
    const pair = await generateKeyPair('RS256', { extractable: true });
    rsKey = pair.privateKey;
    writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'rs-1', alg: 'RS256', use: 'sig' }] }));
    hook = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        hooks.push(JSON.parse(raw));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    yaml = `
auth:
  adminKeys: [${ADMIN}]
  keySecret: "a-server-secret-for-hashing-keys-000111222"
  virtualKeys:
    - { id: ci-pipeline, name: CI, routes: [chat], secret: "\${CI_KEY}" }
  jwt:
    issuer: ${ISS}
    audience: ${AUD}
    secret: "${HS_SECRET}"
    jwksFile: ${path.join(dir, 'jwks.json')}
    tiers: { tiny: { rpm: 1 } }
budgets:
  teams: { poor: { amountUsd: 0.00001, period: day, softRatio: 0.5 } }
  webhookUrl: http://127.0.0.1:${(hook.address() as AddressInfo).port}/budget
providers:
  up: { kind: openai, apiKeys: [sk-upstream], baseURL: "${up.url}/v1" }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }], retry: { attempts: 1 } }
  other: { targets: [{ provider: up, model: gpt-4o-mini }], retry: { attempts: 1 } }
  unpriced: { targets: [{ provider: up, model: mystery-model }] }
  fallback: { targets: [{ provider: up, model: gpt-4o }, { provider: up, model: gpt-4o-mini }], retry: { attempts: 1 } }
`;
    h = await startRouter(yaml, { env: { CI_KEY: 'ci-secret-0123456789abcdef' } });
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    await new Promise((r) => hook.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a key made through POST /admin/keys (secret shown once), with its cost in x-router-cost-usd', async () => {
    const { id, secret } = await newKey({});
    expect(secret).toMatch(/^sk-rt-/);
    const shown = await admin('GET', `/keys/${id}`);
    expect(JSON.stringify(shown.body)).not.toContain(secret);
    expect(shown.body.secret).toBeUndefined();
    const { data, response } = await sdk(secret).chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hello there' }] }).withResponse();
    expect(data.choices[0]!.message.content).toBe('echo: hello there');
    const expected = costNanos({ promptTokens: data.usage!.prompt_tokens, completionTokens: data.usage!.completion_tokens, totalTokens: data.usage!.total_tokens }, price);
    expect(expected).toBeGreaterThan(0);
    expect(response.headers.get('x-router-cost-usd')).toBe(formatUsd(expected!));
    // No limits on this key: no rate-limit headers.
    expect(response.headers.get('x-ratelimit-limit-requests')).toBeNull();
    expect((await post('sk-rt-not-a-key-of-ours-at-all-000000000000000', {})).status).toBe(401);
  });

  it('omits the cost of a model without a price (never "0"), and prices a fallback by the target that served', async () => {
    const { id, secret } = await newKey({});
    const unknown = await post(secret, { model: 'unpriced' });
    expect(unknown.status).toBe(200);
    expect(unknown.headers.get('x-router-cost-usd')).toBeNull();
    up.script({ status: 500 });
    const fell = await post(secret, { model: 'fallback' });
    expect(fell.status).toBe(200);
    expect(fell.headers.get('x-router-fallback')).toBe('up/gpt-4o:server');
    const u = (await fell.json()).usage;
    expect(fell.headers.get('x-router-cost-usd')).toBe(formatUsd(costNanos({ promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, totalTokens: u.total_tokens }, price)!));
    const records = await usageOf(id);
    expect(records.map((r) => [r.route, r.model, r.costUsd === null ? null : typeof r.costUsd])).toEqual([
      ['unpriced', 'mystery-model', null],
      ['fallback', 'gpt-4o-mini', 'number'],
    ]);
    expect(records[1]!.fallbacks).toEqual(['up/gpt-4o:server']);
    const metrics = await (await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    expect(metrics).toMatch(/llm_router_cost_unknown_total\{provider="up",model="mystery-model"\} 1/);
  });

  it('gives a key limited to rpm N exactly N answers, then 429 rate_limit_exceeded with OpenAI headers', async () => {
    const { id, secret } = await newKey({ limits: { rpm: 3 } });
    const client = sdk(secret);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { response } = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'MARKER-rpm-text' }], max_tokens: 5 }).withResponse();
      expect(response.headers.get('x-ratelimit-limit-requests')).toBe('3');
      remaining.push(response.headers.get('x-ratelimit-remaining-requests')!);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const err = await failure(client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'MARKER-rpm-text' }], max_tokens: 5 }));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err!.code).toBe('rate_limit_exceeded');
    expect(err!.type).toBe('rate_limit_error');
    expect(err!.headers!.get('x-ratelimit-limit-requests')).toBe('3');
    expect(err!.headers!.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(err!.headers!.get('x-ratelimit-reset-requests')).toMatch(/^(\d+ms|\d+s|\d+m\d+s)$/);
    expect(Number(err!.headers!.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(err!.headers!.get('retry-after-ms')).toMatch(/^\d+$/);
    expect(Number(err!.headers!.get('retry-after-ms'))).toBeGreaterThan(0);
    expect(up.chatRequests().filter((r) => JSON.stringify(r.body).includes('MARKER-rpm-text'))).toHaveLength(3);

    // The ledger: one record per request (the refusal included), no message text.
    const records = await usageOf(id);
    expect(records.map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok', 'rate_limited']);
    expect(new Set(records.map((r) => r.requestId)).size).toBe(4);
    expect(records[0]).toMatchObject({ keyId: id, route: 'chat', provider: 'up', model: 'gpt-4o-mini', stream: false, traffic: 'live' });
    expect(records[0]!.costUsd).toBeGreaterThan(0);
    expect(records[3]).toMatchObject({ tokens: { prompt: 0, completion: 0 }, costUsd: 0 });
    expect(JSON.stringify(records)).not.toContain('MARKER');
    // The admin view of the key: its requests bucket is empty.
    const view = await admin('GET', `/keys/${id}`);
    expect(view.body.usage.requests).toMatchObject({ limit: 3, remaining: 0 });
    // The usage report and the metrics say the same.
    const report = await admin('GET', `/usage?key=${id}&groupBy=outcome`);
    expect(report.status).toBe(200);
    expect(Object.fromEntries(report.body.data.map((r: { group: { outcome: string }; requests: number }) => [r.group.outcome, r.requests]))).toEqual({ ok: 3, rate_limited: 1 });
    const metrics = await (await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    expect(metrics).toMatch(new RegExp(`llm_router_cost_usd_total\\{route="chat",provider="up",model="gpt-4o-mini",key="${id}"\\} [0-9.e-]+`));
    expect(metrics).toMatch(new RegExp(`llm_router_key_tokens_total\\{key="${id}",route="chat",provider="up",model="gpt-4o-mini",type="completion"\\} \\d+`));
    expect(metrics).toMatch(/llm_router_limit_refusals_total\{route="chat",kind="requests"\} [1-9]/);
  });

  it('counts tokens per minute from the usage the stream reported, and refuses once the bucket is used', async () => {
    const { id, secret } = await newKey({ limits: { tpm: 200 } });
    up.script({ content: words(300) });
    const stream = await sdk(secret).chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'ping' }], max_tokens: 5, stream: true, stream_options: { include_usage: true } });
    let usage: (OpenAI.CompletionUsage & { cost_usd?: number | null }) | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    // The fake upstream bills 300 completion tokens, far beyond the 5 the request reserved.
    expect(usage!.completion_tokens).toBe(300);
    const expected = costNanos({ promptTokens: usage!.prompt_tokens, completionTokens: 300, totalTokens: usage!.total_tokens }, price)!;
    expect(usage!.cost_usd).toBe(Number(formatUsd(expected)));
    await sleep(50); // settled right after the stream ends
    const refused = await post(secret, {});
    expect(refused.status).toBe(429);
    expect((await refused.json()).error.code).toBe('rate_limit_exceeded');
    expect(refused.headers.get('x-ratelimit-limit-tokens')).toBe('200');
    expect(refused.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    // Paying back 100+ tokens of debt at 200 a minute takes tens of seconds.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(10);
    const records = await usageOf(id);
    expect(records[0]).toMatchObject({ outcome: 'ok', stream: true, tokens: { completion: 300 } });
    expect(records[0]!.ttftMs).toBeGreaterThanOrEqual(0);
  });

  it('releases the in-flight slot of a stream the app abandons', async () => {
    const { secret } = await newKey({ limits: { maxInFlight: 1 } });
    const client = sdk(secret);
    up.script({ streamForever: { everyMs: 30 } });
    const ctl = new AbortController();
    const stream = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'ping' }], max_tokens: 5, stream: true }, { signal: ctl.signal });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    // The slot is taken while it streams.
    const busy = await failure(client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'ping' }], max_tokens: 5 }));
    expect(busy).toBeInstanceOf(OpenAI.RateLimitError);
    expect(busy!.message).toContain('in flight');
    ctl.abort();
    await it.next().catch(() => undefined);
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      await sleep(50);
      status = (await post(secret, {})).status;
    }
    expect(status).toBe(200);
  });

  it('refuses with 429 insufficient_quota once a team budget is spent, after calling the soft-threshold webhook', async () => {
    const { id, secret } = await newKey({ team: 'poor' });
    // 30 completion tokens at $0.60/1M: $0.000018, over the team's $0.00001 (a reservation of 5 fitted).
    up.script({ content: words(30) });
    expect((await post(secret, {})).status).toBe(200);
    await sleep(50);
    const refused = await post(secret, {});
    expect(refused.status).toBe(429);
    const body = await refused.json();
    expect(body.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    expect(body.error.message).toContain('team poor');
    for (let i = 0; i < 40 && !hooks.length; i++) await sleep(25);
    expect(hooks[0]).toMatchObject({ event: 'budget.soft_threshold', scope: 'team', owner: 'poor', period: 'day', amountUsd: 0.00001, softRatio: 0.5 });
    const view = await admin('GET', `/keys/${id}`);
    expect(view.body.usage.team).toMatchObject({ name: 'poor', budget: { amountUsd: 0.00001, period: 'day', remainingUsd: 0 } });
    // Spend past the amount shows as the whole amount (the bucket holds no more).
    expect(view.body.usage.team.budget.spentUsd).toBe(0.00001);
    expect((await usageOf(id)).map((r) => r.outcome)).toEqual(['ok', 'insufficient_quota']);
  });

  it('rotates with a grace period, and revokes at once', async () => {
    const { id, secret: old } = await newKey({});
    const rotated = await admin('POST', `/keys/${id}/rotate`, { graceSeconds: 1 });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.secret as string;
    expect(fresh).not.toBe(old);
    expect((await post(old, {})).status).toBe(200);
    expect((await post(fresh, {})).status).toBe(200);
    await sleep(1_100);
    const gone = await post(old, {});
    expect(gone.status).toBe(401);
    const goneBody = await gone.json();
    expect(goneBody.error.code).toBe('invalid_api_key');
    expect(JSON.stringify(goneBody)).not.toContain(old);
    expect((await post(fresh, {})).status).toBe(200);
    expect((await admin('DELETE', `/keys/${id}`)).status).toBe(200);
    const revoked = await post(fresh, {});
    expect(revoked.status).toBe(401);
    expect((await revoked.json()).error.message).toMatch(/revoked/);
  });

  it('limits a key to its routes: 403 model_not_allowed, and /v1/models shows only those', async () => {
    const { secret } = await newKey({ routes: ['chat'] });
    const err = await failure(sdk(secret).chat.completions.create({ model: 'other', messages: [{ role: 'user', content: 'ping' }] }));
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err!.code).toBe('model_not_allowed');
    expect(err!.param).toBe('model');
    expect((await sdk(secret).models.list()).data.map((m) => m.id)).toEqual(['chat']);
    expect(await failure(sdk(secret).models.retrieve('other'))).toBeInstanceOf(OpenAI.NotFoundError);
    const unrestricted = await newKey({});
    expect((await sdk(unrestricted.secret).models.list()).data.map((m) => m.id)).toEqual(['chat', 'other', 'unpriced', 'fallback']);
  });

  it('accepts JWTs (HS256 secret, RS256 from a jwksFile) with their tier limits; an expired one is 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = (sub: string, extra: Record<string, unknown> = {}) => new SignJWT({ sub, ...extra }).setIssuer(ISS).setAudience(AUD).setIssuedAt(now);
    const hs = await claims('alice', { tier: 'tiny' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + 300).sign(new TextEncoder().encode(HS_SECRET));
    const rs = await claims('bob', { routes: 'other' }).setProtectedHeader({ alg: 'RS256', kid: 'rs-1' }).setExpirationTime(now + 300).sign(rsKey);
    const expired = await claims('carol').setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now - 120).sign(new TextEncoder().encode(HS_SECRET));

    expect((await post(hs, {})).status).toBe(200);
    // Tier "tiny": one request a minute.
    const second = await post(hs, {});
    expect(second.status).toBe(429);
    expect(second.headers.get('x-ratelimit-limit-requests')).toBe('1');

    expect((await post(rs, { model: 'other' })).status).toBe(200);
    expect((await post(rs, { model: 'chat' })).status).toBe(403);

    const refused = await post(expired, {});
    expect(refused.status).toBe(401);
    expect((await refused.json()).error).toMatchObject({ code: 'invalid_api_key', message: 'The token has expired.' });
    expect((await usageOf('jwt:alice')).map((r) => r.outcome)).toEqual(['ok', 'rate_limited']);
  });

  it('syncs keys declared in the config, at start and on reload', async () => {
    expect((await post('ci-secret-0123456789abcdef', {})).status).toBe(200);
    const listed = await admin('GET', '/keys/ci-pipeline');
    expect(listed.body).toMatchObject({ id: 'ci-pipeline', source: 'config', routes: ['chat'] });
    expect((await admin('DELETE', '/keys/ci-pipeline')).status).toBe(409);
    // A JWKS file that cannot be read rejects the edit: the last good config (and its keys) stays.
    expect(h.reload(yaml.replace(path.join(dir, 'jwks.json'), path.join(dir, 'missing.json')))).toBe(false);
    expect((await post('ci-secret-0123456789abcdef', {})).status).toBe(200);
    // Removed from the config: it stops working once the reload has synced the store.
    expect(h.reload(yaml.replace(/^ {2}virtualKeys:\n.*\n/m, ''))).toBe(true);
    await h.synced();
    expect((await post('ci-secret-0123456789abcdef', {})).status).toBe(401);
    // The memory store cannot delete: a removed config key is revoked.
    expect((await admin('GET', '/keys/ci-pipeline')).body.status).toBe('revoked');
  });
});

describe('client auth counts virtual keys and JWT, and the state decides on outages', () => {
  const base = `
providers: { up: { kind: openai, apiKeys: [k], baseURL: "http://127.0.0.1:9/v1" } }
routes: { chat: { targets: [{ provider: up, model: gpt-4o-mini }] } }
`;
  it('lets a config with only virtual keys or only JWT listen beyond loopback, not one without any client auth', () => {
    const cfg = (auth: string) => parseConfig(`${auth}\n${base}`, 'x.yaml', {}).config;
    expect(authProblem(cfg(''), '0.0.0.0')).toMatch(/no client auth/);
    expect(authProblem(cfg(''), '127.0.0.1')).toBeUndefined();
    expect(authProblem(cfg('auth: { virtualKeys: [{ id: a, name: A, hash: "hmac-sha256:' + '0'.repeat(64) + '" }] }'), '0.0.0.0')).toBeUndefined();
    expect(authProblem(cfg(`auth: { jwt: { issuer: ${ISS}, audience: x, secret: "${HS_SECRET}" } }`), '0.0.0.0')).toBeUndefined();
    expect(authProblem(cfg('auth: { requireKeys: true }'), '0.0.0.0')).toBeUndefined();
  });

  it('fail-closed on an unreachable Redis: 503 state_unavailable for limited routes, 503 auth_unavailable for virtual keys', async () => {
    const up = await startFakeUpstream();
    const h = await startRouter(`
state: { backend: redis, onUnavailable: fail-closed, redis: { url: "redis://127.0.0.1:1", connectTimeoutMs: 200, commandTimeoutMs: 200 } }
auth: { keys: [legacy-key-of-tests] }
providers: { up: { kind: openai, apiKeys: [k], baseURL: "${up.url}/v1" } }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }], limits: { global: { rpm: 1000 } } }
  free: { targets: [{ provider: up, model: gpt-4o-mini }] }
`);
    try {
      const call = (key: string, model: string) =>
        fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
      const limited = await call('legacy-key-of-tests', 'chat');
      expect(limited.status).toBe(503);
      expect((await limited.json()).error.code).toBe('state_unavailable');
      // A route without limits needs no state.
      expect((await call('legacy-key-of-tests', 'free')).status).toBe(200);
      const virtual = await call('sk-rt-some-virtual-key-0000000000000000000000000', 'free');
      expect(virtual.status).toBe(503);
      expect((await virtual.json()).error.code).toBe('auth_unavailable');
    } finally {
      await h.close();
      await up.close();
    }
  });
});
