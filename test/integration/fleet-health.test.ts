import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TargetView } from '../../src/health/target-health.js';
import type { FleetStatus } from '../../src/health/fleet-types.js';
import { credentialOf, startFakeUpstream, type FakeUpstream, type RecordedRequest } from '../fixtures/fake-upstream.js';
import { startRedisServer, type RedisServer } from '../fixtures/redis-server.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';
import { deletePrefix } from '../unit/state/redis-test-support.js';

/**
 * Three router instances in this process sharing target health through the real Redis at
 * 127.0.0.1:6379 (under a prefix of this run only, deleted afterwards), in front of a primary
 * that fails hard and a healthy backup: the breaker news reaches every instance within a
 * second, one instance probes, probation spends the fleet's shadow budget (not each
 * instance's), promotion happens once, an operator's drain on one applies to all, and a lost
 * message is healed by the reconcile. Then two instances on a redis-server of this file's own,
 * killed and restarted empty: each decides alone meanwhile, and the fleet agrees again after.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `llm-router-test:${process.pid}-${Date.now()}:`;
const ADMIN_KEY = 'admin-key-fleet-health-0123456789';
const KEY_SECRET = 'fleet-health-key-secret-0123456789abcdefgh';
const TARGET = 'primary/gpt-4o';
const PROMOTE_AFTER = 4;
const INTERVAL_MS = 300;

let primary: FakeUpstream;
let backup: FakeUpstream;
let routers: RouterHarness[] = [];
/** Instance ids, in the order of `routers`. */
let ids: string[] = [];
/** Routers a test closed already. */
let closedRouters: RouterHarness[] = [];
/** Statuses of every app request the test made: all must be 200. */
const statuses: number[] = [];

/** Each instance calls the upstreams with its own key, so the upstream can tell who called. */
const upstreamKey = (i: number) => `upstream-key-${i}`;

function config(i: number, redis = { url: REDIS_URL, commandTimeoutMs: 5000 }, ups = { primary: () => primary, backup: () => backup }): string {
  return `
auth:
  adminKeys: [${ADMIN_KEY}]
  keySecret: ${KEY_SECRET}
state:
  backend: redis
  redis: { url: ${redis.url}, keyPrefix: ${JSON.stringify(PREFIX)}, commandTimeoutMs: ${redis.commandTimeoutMs} }
providers:
  primary: { kind: openai, apiKeys: [${upstreamKey(i)}], baseURL: "${ups.primary().url}/v1", timeoutMs: 5000 }
  backup: { kind: openai, apiKeys: [${upstreamKey(i)}], baseURL: "${ups.backup().url}/v1", timeoutMs: 5000 }
routes:
  chat:
    targets: [{ provider: primary, model: gpt-4o }, { provider: backup, model: gpt-4o }]
    retry: { attempts: 1 }
    breaker: { errorPercent: 50, minRequests: 3, windowMs: 10000, openMs: 1500 }
    healthCheck: { intervalMs: ${INTERVAL_MS}, timeoutMs: 1000 }
    shadow: { sampleRate: 1, promoteAfter: ${PROMOTE_AFTER}, maxConcurrent: 2, timeoutMs: 5000 }
`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function admin<T>(h: RouterHarness, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${h.url}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

const list = (h: RouterHarness) => admin<{ data: TargetView[]; fleet?: FleetStatus }>(h, 'GET', '/targets');
async function view(h: RouterHarness): Promise<TargetView> {
  const res = await list(h);
  expect(res.status).toBe(200);
  return res.body.data.find((t) => `${t.provider}/${t.model}` === TARGET)!;
}

/** One app request; `store` marks it live (shadow copies drop the field), so the upstream can tell them apart. */
async function chat(h: RouterHarness): Promise<void> {
  const res = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'Hello fleet.' }], max_tokens: 16, store: false }),
  });
  await res.arrayBuffer();
  statuses.push(res.status);
}

/** Polls `check` until it holds; returns how long that took. */
async function until(what: string, check: () => Promise<boolean>, ms = 10_000, every = 20): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await sleep(every);
  }
}

const allIn = async (state: string) => (await Promise.all(routers.map(view))).every((v) => v.state === state);
const shadowCalls = (up: FakeUpstream, since = 0): RecordedRequest[] => up.chatRequests().slice(since).filter((r) => !Object.hasOwn(r.body as object, 'store'));
const probesBy = (up: FakeUpstream, since = 0): Map<string, number> => {
  const by = new Map<string, number>();
  for (const r of up.requests.slice(since)) if (r.path.endsWith('/models')) by.set(credentialOf(r.headers), (by.get(credentialOf(r.headers)) ?? 0) + 1);
  return by;
};

/** A counter summed over every instance's registry. */
async function fleetTotal(name: string, labels: Record<string, string> = {}, of = routers): Promise<number> {
  let sum = 0;
  for (const h of of) {
    const metric = (await h.metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
    for (const v of (metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>) {
      if (Object.entries(labels).every(([k, val]) => v.labels[k] === val)) sum += v.value;
    }
  }
  return sum;
}

beforeAll(async () => {
  primary = await startFakeUpstream();
  backup = await startFakeUpstream();
  routers = await Promise.all([0, 1, 2].map((i) => startRouter(config(i))));
  // The fleet layer starts once the state backend is open: wait until each one listens.
  await until('every instance subscribed to health news', async () => (await Promise.all(routers.map(list))).every((r) => r.body.fleet?.subscribed === true));
  ids = (await Promise.all(routers.map(list))).map((r) => r.body.fleet!.instance);
});

afterAll(async () => {
  await Promise.allSettled(routers.filter((h) => !closedRouters.includes(h)).map((h) => h.close()));
  await Promise.allSettled([primary?.close(), backup?.close()]);
  await deletePrefix(REDIS_URL, PREFIX);
});

describe('many instances, one view of target health', () => {
  it('starts with three distinct instances and a healthy fleet view', async () => {
    expect(new Set(ids).size).toBe(3);
    const v = await view(routers[0]!);
    expect(v).toMatchObject({ state: 'healthy', fleet: { state: 'healthy', version: 0, changedBy: null } });
  });

  it('opens the breaker on all three within a second of the first opening, with zero app errors', async () => {
    const [a, b, c] = routers as [RouterHarness, RouterHarness, RouterHarness];
    await primary.down();
    // Only A sees the failures: three requests, each served by the backup.
    for (let i = 0; i < 3; i++) await chat(a);
    const opened = await view(a);
    expect(opened.state).toBe('open');
    const openedAt = Date.parse(opened.fleet!.changedAt!);

    await until('B and C open', async () => (await view(b)).state === 'open' && (await view(c)).state === 'open', 3_000, 10);
    const learnt = Date.now() - openedAt;
    expect(learnt).toBeLessThan(1_000);

    for (const h of [b, c]) {
      const v = await view(h);
      // Their own breaker windows saw nothing; the news came from A.
      expect(v.breaker.failures).toBe(0);
      expect(v.fleet).toMatchObject({ state: 'open', event: 'open', changedBy: ids[0], lastError: { source: 'live' } });
      expect(v.lastError).toMatchObject({ source: 'live' });
    }
    // B and C send nothing to the primary now: their requests go straight to the backup.
    const before = backup.chatRequests().length;
    await Promise.all([chat(b), chat(c)]);
    expect(backup.chatRequests().length).toBe(before + 2);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('one instance probes the open target and shares the result', async () => {
    await primary.up();
    primary.scriptAlways((r) => (r.path.endsWith('/models') ? { status: 503 } : undefined));
    const mark = primary.requests.length;
    await sleep(INTERVAL_MS * 6 + 1_500);
    const by = probesBy(primary, mark);
    // One prober (the lease holder), not three.
    expect([...by.keys()]).toHaveLength(1);
    expect([...by.values()][0]).toBeGreaterThanOrEqual(3);
    for (const h of routers) expect((await view(h)).probes.last).toMatchObject({ outcome: 'fail' });
  });

  it('runs probation on the fleet’s shadow budget and promotes once', async () => {
    const mark = primary.requests.length;
    const chatMark = primary.chatRequests().length;
    primary.scriptAlways(undefined);
    await until('the fleet on probation', () => allIn('probation'), 5_000);
    expect(probesBy(primary, mark).size).toBe(1);

    // Live traffic on every instance; each one mirrors every request it serves (sampleRate 1).
    await until(
      'the fleet promoted the primary',
      async () => {
        await Promise.all(routers.flatMap((h) => [chat(h), chat(h)]));
        return allIn('healthy');
      },
      15_000,
      0,
    );
    const shadows = shadowCalls(primary, chatMark);
    expect(shadows.length).toBeGreaterThanOrEqual(PROMOTE_AFTER);
    // The fleet's budget, not three instances' (which would be 3 × promoteAfter or more).
    expect(shadows.length).toBeLessThanOrEqual(PROMOTE_AFTER + 2);
    expect(await fleetTotal('llm_router_fleet_health_events_total', { type: 'promote', direction: 'published' })).toBe(1);
    const promoted = (await Promise.all(routers.map(view))).map((v) => v.fleet!);
    expect(new Set(promoted.map((f) => `${f.version}:${f.changedBy}`)).size).toBe(1);
    expect(promoted[0]).toMatchObject({ state: 'healthy', event: 'promote' });
    expect(ids).toContain(promoted[0]!.changedBy);

    // Healthy again: live traffic reaches the primary.
    const live = primary.chatRequests().length;
    await chat(routers[2]!);
    expect(primary.chatRequests().length).toBe(live + 1);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('an operator’s drain on one instance applies to all, also to one whose config was just reloaded; a restore on another undoes it', async () => {
    const [a, b, c] = routers as [RouterHarness, RouterHarness, RouterHarness];
    // A reload builds a new gate on C; the process's fleet subscription carries on.
    expect(c.reload(config(2))).toBe(true);
    const res = await admin<TargetView>(b, 'POST', '/targets/primary/gpt-4o/drain', { reason: 'provider incident #42' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'drained', fleet: { state: 'drained', event: 'drain', changedBy: ids[1], drain: { reason: 'provider incident #42' } } });
    const took = await until('A and C drained', async () => (await view(a)).state === 'drained' && (await view(c)).state === 'drained', 3_000, 10);
    expect(took).toBeLessThan(1_000);
    // The drain note (who, why) travels with it.
    expect((await view(c)).drain).toEqual(res.body.drain);

    const live = primary.chatRequests().length;
    await Promise.all(routers.map(chat));
    expect(primary.chatRequests().length).toBe(live);

    const restored = await admin<TargetView>(c, 'POST', '/targets/primary/gpt-4o/restore');
    expect(restored.body).toMatchObject({ state: 'healthy', fleet: { event: 'restore', changedBy: ids[2] } });
    await until('all healthy', () => allIn('healthy'), 3_000);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('heals a missed message with the reconcile', async () => {
    const fixed = await fleetTotal('llm_router_fleet_reconcile_fixes_total');
    // Another instance wrote a drain but its publish was lost: only the shared state knows.
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const key = `${PREFIX}health:target:${TARGET}`;
      const ver = Number(await redis.hget(key, 'ver'));
      await redis.hset(key, { ver: ver + 1, state: 'drained', event: 'drain', since: Date.now(), at: Date.now(), by: 'ghost-instance', why: 'drained by operator (publish lost)', drain: JSON.stringify({ at: Date.now(), reason: 'lost news' }) });
    } finally {
      redis.disconnect();
    }
    // Reconcile runs every 5 s on each instance; GET /admin/targets would heal too, so poll metrics.
    await until('every instance drained by its reconcile', async () => (await fleetTotal('llm_router_fleet_reconcile_fixes_total')) >= fixed + 3, 8_000, 100);
    for (const h of routers) expect((await view(h)).state).toBe('drained');
    expect((await view(routers[0]!)).fleet).toMatchObject({ changedBy: 'ghost-instance', drain: { reason: 'lost news' } });
    await admin(routers[0]!, 'POST', '/targets/primary/gpt-4o/restore');
    await until('all healthy', () => allIn('healthy'), 3_000);
  });

  it('closing the routers closes their fleet subscriptions', async () => {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const channel = `${PREFIX}health:events`;
      expect(await redis.pubsub('NUMSUB', channel)).toEqual([channel, 3]);
      await Promise.all(routers.map((h) => h.close()));
      closedRouters = routers;
      await until('no subscriber left', async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1] === 0, 3_000);
    } finally {
      redis.disconnect();
    }
  });

  it('counted every app request as answered, and sent and received news in metrics', async () => {
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(await fleetTotal('llm_router_fleet_health_events_total', { type: 'open', direction: 'published' })).toBe(1);
    expect(await fleetTotal('llm_router_fleet_health_events_total', { type: 'open', direction: 'received' })).toBe(2);
    expect(await fleetTotal('llm_router_fleet_health_events_total', { type: 'probe', direction: 'received' })).toBeGreaterThan(0);
    expect(await fleetTotal('llm_router_fleet_redis_errors_total')).toBe(0);
  });
});

describe('Redis unreachable (a redis-server of this test, killed and restarted empty)', () => {
  let redis: RedisServer;
  let down: FakeUpstream;
  let spare: FakeUpstream;
  let x: RouterHarness;
  let y: RouterHarness;
  const logs: Array<{ msg: string; component?: string }> = [];
  const answered: number[] = [];

  async function timedChat(h: RouterHarness): Promise<number> {
    const started = Date.now();
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'Hello, Redis is away.' }], max_tokens: 16 }),
    });
    await res.arrayBuffer();
    answered.push(res.status);
    return Date.now() - started;
  }
  const logged = (text: string) => logs.filter((l) => l.component === 'fleet-health' && l.msg.includes(text)).length;

  beforeAll(async () => {
    redis = await startRedisServer();
    down = await startFakeUpstream();
    spare = await startFakeUpstream();
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) });
    const ups = { primary: () => down, backup: () => spare };
    x = await startRouter(config(0, { url: redis.url, commandTimeoutMs: 500 }, ups), { logger });
    y = await startRouter(config(1, { url: redis.url, commandTimeoutMs: 500 }, ups));
    await until('both instances subscribed', async () => (await Promise.all([x, y].map(list))).every((r) => r.body.fleet?.subscribed === true));
  });

  afterAll(async () => {
    await Promise.allSettled([x?.close(), y?.close()]);
    await Promise.allSettled([down?.close(), spare?.close()]);
    await redis?.kill();
  });

  it('each instance decides alone while Redis is down, never waiting on it, and the fleet agrees again once it is back', async () => {
    await redis.kill();
    await down.down();
    // X alone sees the primary fail; every request is answered by the backup, none waits on Redis.
    for (let i = 0; i < 3; i++) expect(await timedChat(x)).toBeLessThan(2_500);
    const alone = await view(x);
    expect(alone.state).toBe('open');
    expect((await view(y)).state).toBe('healthy');
    const status = await list(x);
    expect(status.body.fleet).toMatchObject({ connected: false });
    for (let i = 0; i < 3; i++) await list(x); // each tries Redis again (and fails)
    expect(await fleetTotal('llm_router_fleet_redis_errors_total', {}, [x])).toBeGreaterThanOrEqual(3);
    expect(await fleetTotal('llm_router_fleet_connected', {}, [x])).toBe(0);
    expect(logged('Redis unreachable')).toBe(1);

    // Back, and empty: X writes the decision it made alone, and Y takes it.
    await redis.start();
    await until('Y heard of the open target', async () => (await view(y)).state === 'open', 15_000, 100);
    expect((await view(y)).fleet).toMatchObject({ state: 'open', event: 'open', changedBy: (await list(x)).body.fleet!.instance });
    expect(await fleetTotal('llm_router_fleet_connected', {}, [x])).toBe(1);
    expect(logged('Redis reachable again')).toBe(1);
    expect(answered.filter((s) => s !== 200)).toEqual([]);
  });
});
