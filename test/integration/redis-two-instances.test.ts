import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';
import { deletePrefix } from '../unit/state/redis-test-support.js';

/**
 * Two router instances sharing one Redis (the real server on 127.0.0.1:6379, under a prefix
 * of this run only, deleted afterwards): limits are exact across both, and a key created or
 * revoked on one is seen by the other on its next request.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `llm-router-test:${process.pid}-${Date.now()}:`;
const ADMIN_KEY = 'admin-key-two-instances-0123456789';
const KEY_SECRET = 'two-instances-key-secret-0123456789abcdefgh';
const PROBE_SECRET = 'probe-secret-two-instances-0123456789';

let upstream: FakeUpstream;
let a: RouterHarness;
let b: RouterHarness;
const dirs: string[] = [];

function config(dataDir: string): string {
  return `
auth:
  adminKeys: [${ADMIN_KEY}]
  keySecret: ${KEY_SECRET}
  virtualKeys:
    - { id: probe, name: Readiness probe, secret: ${PROBE_SECRET} }
state:
  backend: redis
  dataDir: ${JSON.stringify(dataDir)}
  # A Redis call slower than commandTimeoutMs counts as Redis down: fail-open would then admit up
  # to N per instance. Two shared cores can stall the event loop past the 500 ms default, so
  # the timeout is generous, and fail-closed turns any such hiccup into a visible 503.
  onUnavailable: fail-closed
  redis: { url: ${REDIS_URL}, keyPrefix: ${JSON.stringify(PREFIX)}, commandTimeoutMs: 5000 }
providers:
  up: { kind: openai, apiKeys: [upstream-key], baseURL: "${upstream.url}/v1", timeoutMs: 10000 }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o }] }
`;
}

interface Answer {
  status: number;
  body: { error?: { message: string; type: string; param: unknown; code: string | null } } & Record<string, unknown>;
  headers: Headers;
}

async function call(base: string, method: string, url: string, auth: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Answer['body'];
  try {
    parsed = JSON.parse(text) as Answer['body'];
  } catch {
    throw new Error(`${method} ${url}: ${res.status} with a non-JSON body: ${text.slice(0, 200)}`);
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

const chat = (h: RouterHarness, secret: string) =>
  call(h.url, 'POST', '/v1/chat/completions', secret, { model: 'chat', messages: [{ role: 'user', content: 'Say hello to both instances.' }], max_tokens: 16 });

async function createKey(h: RouterHarness, body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const res = await call(h.url, 'POST', '/admin/keys', ADMIN_KEY, { name: 'two-instances', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, secret: res.body.secret as string };
}

/** Polls until the instance authenticates (its state backend is open): the probe key gets a 200. */
async function ready(h: RouterHarness): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await chat(h, PROBE_SECRET);
    if (res.status === 200) return;
    if (Date.now() > deadline) throw new Error(`instance ${h.url} not ready: ${res.status} ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Fires `n` chat calls at once, alternating between A and B; the statuses and codes by instance. */
async function burst(secret: string, n: number) {
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 === 0 ? chat(a, secret) : chat(b, secret)).then((r) => ({ on: i % 2 === 0 ? 'A' : 'B', ...r }))));
  return {
    ok: answers.filter((r) => r.status === 200),
    refused: answers.filter((r) => r.status !== 200),
    answers,
  };
}

beforeAll(async () => {
  upstream = await startFakeUpstream();
  for (let i = 0; i < 2; i++) dirs.push(await mkdtemp(path.join(tmpdir(), 'llm-router-two-')));
  a = await startRouter(config(dirs[0]!), { baseDir: dirs[0] });
  b = await startRouter(config(dirs[1]!), { baseDir: dirs[1] });
  await Promise.all([ready(a), ready(b)]);
});

afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  await upstream?.close();
  await deletePrefix(REDIS_URL, PREFIX);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('two router instances sharing Redis', () => {
  it('a key created on A works on B at once, and its state lives in Redis under the prefix', async () => {
    const key = await createKey(a, { team: 'shared' });
    const first = await chat(b, key.secret);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const shown = await call(b.url, 'GET', `/admin/keys/${key.id}`, ADMIN_KEY);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ id: key.id, team: 'shared', source: 'api' });
    expect(JSON.stringify(shown.body)).not.toContain(key.secret);

    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      // The server is shared: walk the whole keyspace (one SCAN step may hold none of ours).
      let cursor = '0';
      let ours = 0;
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1_000);
        cursor = next;
        ours += keys.length;
      } while (cursor !== '0' && ours === 0);
      expect(ours).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  });

  it('rpm N gives exactly N successes across both instances under concurrent load', async () => {
    const N = 5;
    const key = await createKey(a, { limits: { rpm: N } });
    const { ok, refused, answers } = await burst(key.secret, 3 * N);
    expect(ok.length, JSON.stringify(answers.map((r) => [r.on, r.status, r.body.error?.code]))).toBe(N);
    expect(refused).toHaveLength(2 * N);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.body.error).toMatchObject({ type: expect.any(String), code: 'rate_limit_exceeded' });
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // A got 8 calls and B 7, each more than N: both refused some, so neither counted on its own.
    expect(new Set(refused.map((r) => r.on))).toEqual(new Set(['A', 'B']));
    // The next call on either instance is refused too: the bucket is shared and empty.
    expect((await chat(b, key.secret)).status).toBe(429);
    expect((await chat(a, key.secret)).status).toBe(429);
  });

  it('tpm is exact across both instances', async () => {
    // What one call reserves (prompt + max_tokens, as the router counts it), measured on a fresh
    // key (this first call that counts tokens also loads the tokenizer: ~1.5 s).
    const meter = await createKey(a, { limits: { tpm: 1_000_000 } });
    const measured = await chat(a, meter.secret);
    expect(measured.status).toBe(200);
    const perCall = 1_000_000 - Number(measured.headers.get('x-ratelimit-remaining-tokens'));
    expect(perCall, 'x-ratelimit-remaining-tokens on a success').toBeGreaterThan(16);
    expect(perCall).toBeLessThan(1_000);

    const N = 4;
    const key = await createKey(a, { limits: { tpm: N * perCall } });
    // Answers take long enough that every call reserves before any settles (no refund reopens
    // room; reservations take tens of ms, the refill of N calls' worth takes a minute).
    upstream.scriptAlways(() => ({ delayMs: 2_000 }));
    try {
      const { ok, refused, answers } = await burst(key.secret, 3 * N);
      expect(ok.length, JSON.stringify(answers.map((r) => [r.on, r.status, r.body.error?.code]))).toBe(N);
      for (const r of refused) {
        expect(r.status).toBe(429);
        expect(r.body.error?.code).toBe('rate_limit_exceeded');
        expect(r.body.error?.message).toMatch(/tokens per minute/);
      }
      expect(new Set(refused.map((r) => r.on))).toEqual(new Set(['A', 'B']));
    } finally {
      upstream.scriptAlways(undefined);
    }
  });

  it('GET /admin/usage on either instance reports the calls of both (the shared usage stream)', async () => {
    const key = await createKey(a, { team: 'reporting' });
    for (const h of [a, a, b]) expect((await chat(h, key.secret)).status).toBe(200);
    // Each instance writes its records in batches (~200 ms): poll until A's have reached Redis.
    const deadline = Date.now() + 5_000;
    let report: Answer;
    for (;;) {
      report = await call(b.url, 'GET', `/admin/usage?key=${key.id}&groupBy=key,team,outcome&from=-1h`, ADMIN_KEY);
      expect(report.status, JSON.stringify(report.body)).toBe(200);
      if ((report.body.totals as { requests: number }).requests >= 3 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const data = report.body.data as Array<{ group: Record<string, unknown>; requests: number; costUsd: number; tokens: { prompt: number; completion: number } }>;
    expect(data).toHaveLength(1);
    expect(data[0]).toMatchObject({ group: { key: key.id, team: 'reporting', outcome: 'ok' }, requests: 3, costUnknownRequests: 0 });
    expect(data[0]!.costUsd).toBeGreaterThan(0);
    expect(data[0]!.tokens.prompt).toBeGreaterThan(0);
    const csv = await fetch(`${a.url}/admin/usage?key=${key.id}&format=csv&groupBy=none`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect((await csv.text()).split('\r\n')[1]).toMatch(/^3,/);
    // Behind the admin key.
    expect((await call(b.url, 'GET', '/admin/usage', PROBE_SECRET)).status).toBe(401);
    expect((await call(b.url, 'GET', '/admin/usage?groupBy=colour', ADMIN_KEY)).body.error).toMatchObject({ param: 'groupBy' });
  });

  it('a key revoked on A is refused on B on its very next request', async () => {
    const key = await createKey(a, {});
    // B has looked it up (and cached it) before the revocation.
    expect((await chat(b, key.secret)).status).toBe(200);
    expect((await chat(b, key.secret)).status).toBe(200);
    const revoked = await call(a.url, 'DELETE', `/admin/keys/${key.id}`, ADMIN_KEY);
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    const onB = await chat(b, key.secret);
    expect(onB.status).toBe(401);
    expect(onB.body.error).toMatchObject({ code: 'invalid_api_key' });
    expect(onB.body.error?.message).toMatch(/revoked/i);
    expect(JSON.stringify(onB.body)).not.toContain(key.secret);
    expect((await chat(a, key.secret)).status).toBe(401);
  });
});
