/**
 * The router when its Redis fails ("Many instances, one router"), against a redis-server of
 * this file's own on a free loopback port (never the shared one on 6379): down at start, killed
 * under load and restarted empty, slow (a proxy delaying every call past commandTimeoutMs),
 * flushed, and failed over to a replica. Each shared feature must keep its documented
 * behaviour throughout, log each outage once, show it in /metrics, and recover without a
 * router restart:
 *
 * | feature               | Redis down or slow                              | restarted empty               |
 * |-----------------------|-------------------------------------------------|-------------------------------|
 * | plain / streamed      | 200                                             | 200                           |
 * | route limits          | fail-open: local buckets (200); fail-closed: 503 state_unavailable | counters reset |
 * | config virtual keys   | cached 5 s, then 503 auth_unavailable           | synced again                  |
 * | admin-API virtual keys| cached 5 s, then 503 auth_unavailable           | gone: 401                     |
 * | response cache        | miss (200)                                      | miss, then hits again         |
 * | sessions              | 503 state_unavailable (session requests only)   | gone: 404, a new one starts   |
 * | jobs                  | 503 state_unavailable, never a 202              | jobs gone                     |
 * | resumable streams     | served whole, not resumable (no stream id)      | resumable again               |
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { metricSum, sleep, until } from '../fixtures/chaos-helpers.js';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { createRedisServer, freePort, startRedisProxy, startRedisServer, type RedisProxy, type RedisServer } from '../fixtures/redis-server.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

const KEY = 'legacy-key-redis-faults';
const ADMIN = 'admin-key-redis-faults-0123456789';
const KEY_SECRET = 'redis-faults-key-secret-0123456789abcdefgh';
/** A config virtual key with room for the load loops. */
const VKEY = 'sk-cfg-redis-faults-wide-0123456789';
/** A config virtual key with a tight limit (rpm 2). */
const VKEY_LOW = 'sk-cfg-redis-faults-low-0123456789';
const COMMAND_TIMEOUT_MS = 200;
/** The longest any request may take while Redis is down or dying: nothing waits for it, with room for a loaded machine. */
const BOUND_MS = 2_500;
/** While Redis is slow: the few Redis calls on one request's path each give up at commandTimeoutMs. */
const SLOW_BOUND_MS = 4 * COMMAND_TIMEOUT_MS + 400;

type Kind = 'plain' | 'stream' | 'limited' | 'session' | 'cached' | 'async' | 'resumable' | 'vkey';
const KINDS: Kind[] = ['plain', 'stream', 'limited', 'session', 'cached', 'async', 'resumable', 'vkey'];

interface Answer {
  kind: Kind;
  status: number;
  code: string | null;
  headers: Headers;
  text: string;
  /** performance.now() when sent and when the whole body was read. */
  sentAt: number;
  doneAt: number;
}

interface Router {
  name: string;
  h: RouterHarness;
  logs: Array<{ level: number; msg: string }>;
}

let up: FakeUpstream;
let redis: RedisServer;
let replica: RedisServer | undefined;
let proxy: RedisProxy;
let open: Router;
let closed: Router;
let proxied: Router;
let secure: RedisServer | undefined;
const routers: Router[] = [];
const dirs: string[] = [];
let serial = 0;

/** `redis` extra: more fields of `state.redis` (YAML flow-map entries), e.g. TLS and an ACL user. */
function config(url: string, onUnavailable: 'fail-open' | 'fail-closed', prefix: string, redis = ''): string {
  return `
auth:
  keys: [${KEY}]
  adminKeys: [${ADMIN}]
  keySecret: ${KEY_SECRET}
  virtualKeys:
    - { id: cfg-wide, name: Config key, secret: ${VKEY}, limits: { rpm: 100000 } }
    - { id: cfg-low, name: Config key with a tight limit, secret: ${VKEY_LOW}, limits: { rpm: 2 } }
state:
  backend: redis
  onUnavailable: ${onUnavailable}
  redis: { url: "${url}", keyPrefix: "${prefix}", commandTimeoutMs: ${COMMAND_TIMEOUT_MS}, connectTimeoutMs: 500, maxQueuedCommands: 100${redis ? `, ${redis}` : ''} }
jobs: { concurrency: 2, retryDelayMs: 100, maxRetryDelayMs: 300, leaseMs: 3000 }
providers:
  up: { kind: openai, apiKeys: [sk-up], baseURL: "${up.url}/v1", timeoutMs: 5000 }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }] }
  limited: { targets: [{ provider: up, model: gpt-4o-mini }], limits: { perKey: { rpm: 100000 } } }
  cached: { targets: [{ provider: up, model: gpt-4o-mini }], cache: { ttlMs: 60000 } }
`;
}

async function router(name: string, url: string, onUnavailable: 'fail-open' | 'fail-closed', redis = '', env: NodeJS.ProcessEnv = {}): Promise<Router> {
  const logs: Router['logs'] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Router['logs'][number]) });
  const dir = tempDir(`router-redis-faults-${name}-`);
  const h = await startRouter(config(url, onUnavailable, `llm-router-faults:${name}:`, redis), { logger, dataDir: dir, env });
  const r = { name, h, logs };
  routers.push(r);
  return r;
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** One request of `kind`; never hangs (10 s abort), the body read to its end. */
async function send(r: Router, kind: Kind, opts: { session?: string; key?: string; content?: string } = {}): Promise<Answer> {
  const n = serial++;
  const headers: Record<string, string> = { authorization: `Bearer ${opts.key ?? (kind === 'vkey' ? VKEY : KEY)}`, 'content-type': 'application/json' };
  const body: Record<string, unknown> = { model: 'chat', messages: [{ role: 'user', content: opts.content ?? `${kind} ${n}` }], max_tokens: 16 };
  if (kind === 'stream' || kind === 'resumable') body.stream = true;
  if (kind === 'resumable') headers['x-router-resumable'] = 'true';
  if (kind === 'limited') body.model = 'limited';
  if (kind === 'cached') {
    body.model = 'cached';
    body.temperature = 0; // only deterministic requests are cached
    body.messages = [{ role: 'user', content: opts.content ?? 'the same question every time' }];
  }
  if (kind === 'async') headers['x-router-async'] = 'true';
  if (kind === 'session') headers['x-session-id'] = opts.session ?? `sess-${r.name}-${n % 3}`;
  const sentAt = performance.now();
  const res = await fetch(`${r.h.baseURL}/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let code: string | null = null;
  if (res.status >= 400) code = (JSON.parse(text) as { error: { code: string | null } }).error.code;
  return { kind, status: res.status, code, headers: res.headers, text, sentAt, doneAt: performance.now() };
}

const get = async (r: Router, pathname: string, key = KEY) => {
  const res = await fetch(`${r.h.url}${pathname}`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const metric = async (r: Router, name: string, labels: Record<string, string> = {}): Promise<number> => {
  const res = await fetch(`${r.h.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return metricSum(await res.text(), name, labels);
};
const stateUp = (r: Router) => metric(r, 'llm_router_state_up', { backend: 'redis' });
const limiterMode = (r: Router, mode: string) => metric(r, 'llm_router_state_limiter_mode', { mode });

/** Lines logged so far whose message matches. */
const logged = (r: Router, pattern: RegExp) => r.logs.filter((l) => pattern.test(l.msg)).length;
const UNREACHABLE = /^Redis state store (unreachable|connection lost)/;
const REACHABLE = /^Redis state store reachable again/;
const DATA_LOST = /^Redis lost its data/;

/**
 * What each kind may answer while Redis is unavailable: the documented refusals, nothing else.
 * `limitsClosed`: the router is fail-closed.
 */
function allowedWhileDown(a: Answer, limitsClosed: boolean): boolean {
  switch (a.kind) {
    case 'plain':
    case 'stream':
    case 'cached':
    case 'resumable':
      return a.status === 200;
    case 'limited':
      return limitsClosed ? a.status === 503 && a.code === 'state_unavailable' : a.status === 200;
    case 'session':
    case 'async':
      return a.status === 503 && a.code === 'state_unavailable';
    case 'vkey':
      // A key looked up in the last 5 s is served from the cache; its limits follow onUnavailable.
      return a.status === 200 ? !limitsClosed : a.status === 503 && (a.code === 'auth_unavailable' || a.code === 'state_unavailable');
  }
}

type Frame = { id?: string; data: string };

/** Reads SSE frames to the end of the body, telling `onFrame` of each as it comes. */
async function readFrames(res: Response, onFrame: (f: Frame) => void = () => undefined): Promise<Frame[]> {
  const frames: Frame[] = [];
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return frames;
    buf += dec.decode(value, { stream: true });
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const frame: Frame = { data: '' };
      for (const line of buf.slice(0, i).split('\n')) {
        if (line.startsWith('id: ')) frame.id = line.slice(4);
        else if (line.startsWith('data: ')) frame.data += line.slice(6);
      }
      buf = buf.slice(i + 2);
      frames.push(frame);
      onFrame(frame);
    }
  }
}

const textOf = (frames: Frame[]) =>
  frames
    .filter((f) => f.data.startsWith('{"id"'))
    .map((f) => (JSON.parse(f.data) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
    .join('');

/** A whole SSE answer: data lines and the final [DONE]. */
const wholeStream = (a: Answer) => a.status === 200 && a.text.includes('data: {') && a.text.trimEnd().endsWith('data: [DONE]');

/** Every shared feature works again: sessions keep history, the cache hits, jobs are accepted and run, streams are resumable. */
async function expectRecovered(r: Router): Promise<void> {
  const session = `recovered-${r.name}-${serial++}`;
  await until(`${r.name}: a session turn`, async () => (await send(r, 'session', { session })).status === 200, 8_000, 100);
  const second = await send(r, 'session', { session, content: 'second turn' });
  expect(second.status).toBe(200);
  const stored = await get(r, `/v1/sessions/${session}`);
  expect(stored.status).toBe(200);
  expect((stored.body.messages as unknown[]).length).toBeGreaterThanOrEqual(4);

  const question = `cache again ${serial++}`;
  expect((await send(r, 'cached', { content: question })).status).toBe(200);
  await until(`${r.name}: a cache hit`, async () => (await send(r, 'cached', { content: question })).headers.get('x-router-cache') === 'hit', 3_000, 50);

  const job = await send(r, 'async');
  expect(job.status, job.text).toBe(202);
  const id = (JSON.parse(job.text) as { id: string }).id;
  await until(`${r.name}: job ${id} to succeed`, async () => (await get(r, `/v1/jobs/${id}`)).body.status === 'succeeded', 8_000, 100);

  const stream = await send(r, 'resumable');
  expect(wholeStream(stream)).toBe(true);
  expect(stream.headers.get('x-router-stream-id')).toMatch(/^strm_/);

  // Limits are shared again once the limiter's cool-down after its last failure is over.
  await until(`${r.name}: shared limits`, async () => (await send(r, 'limited')).status === 200 && (await limiterMode(r, 'shared')) === 1, 3_000, 100);
  expect(await stateUp(r)).toBe(1);
}

/** Sends every kind in turn from `workers` loops until `stop()` says so. */
async function load(r: Router, workers: number, stop: () => boolean): Promise<Answer[]> {
  const out: Answer[] = [];
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = w; !stop(); i++) out.push(await send(r, KINDS[i % KINDS.length]!));
    }),
  );
  return out;
}

const describeAnswers = (as: Answer[]) => JSON.stringify(as.map((a) => [a.kind, a.status, a.code, Math.round(a.doneAt - a.sentAt)]));

beforeAll(async () => {
  up = await startFakeUpstream();
  // Down at start: the routers open on a port where nothing listens yet.
  const port = await freePort();
  [open, closed] = await Promise.all([router('open', `redis://127.0.0.1:${port}`, 'fail-open'), router('closed', `redis://127.0.0.1:${port}`, 'fail-closed')]);
  redis = await createRedisServer({ port });
});

afterAll(async () => {
  await Promise.allSettled(routers.map((r) => r.h.close()));
  await proxy?.close();
  await Promise.allSettled([redis?.close(), replica?.close(), secure?.close()]);
  await up?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the router when its Redis fails', () => {
  it('Redis down at start: the router started and answers; each feature degrades as documented', async () => {
    for (const r of [open, closed]) {
      const answers: Answer[] = [];
      for (let round = 0; round < 3; round++) for (const kind of KINDS) answers.push(await send(r, kind));
      const bad = answers.filter((a) => !allowedWhileDown(a, r === closed));
      expect(bad, `${r.name}: ${describeAnswers(bad)}`).toEqual([]);
      // Nothing waits for a Redis that is not there.
      expect(Math.max(...answers.map((a) => a.doneAt - a.sentAt))).toBeLessThan(BOUND_MS);
      for (const a of answers.filter((x) => x.kind === 'cached')) expect(a.headers.get('x-router-cache')).toBe('miss');
      for (const a of answers.filter((x) => x.kind === 'resumable')) {
        expect(wholeStream(a)).toBe(true);
        expect(a.headers.get('x-router-stream-id')).toBeNull();
      }
      for (const a of answers.filter((x) => x.kind === 'stream')) expect(wholeStream(a)).toBe(true);
      // Config keys were never synced: no key store, no key (503, not 401: the key may be fine).
      expect(answers.filter((a) => a.kind === 'vkey').map((a) => a.code)).toEqual(['auth_unavailable', 'auth_unavailable', 'auth_unavailable']);
      // /v1/jobs and /v1/sessions say the same as the chat path.
      const job = await fetch(`${r.h.baseURL}/jobs`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }) });
      expect(job.status).toBe(503);
      expect((await get(r, '/v1/sessions/sess-x')).status).toBe(503);
      expect(await stateUp(r)).toBe(0);
      expect(await limiterMode(r, r === closed ? 'refusing' : 'local')).toBe(1);
      // Reconnect attempts and two dozen requests later: one warning for the outage.
      expect(logged(r, UNREACHABLE), JSON.stringify(r.logs.map((l) => l.msg))).toBe(1);
    }
  });

  it('Redis comes up: everything recovers without a router restart (config keys synced, sessions, cache, jobs, streams)', async () => {
    await redis.start();
    for (const r of [open, closed]) {
      await until(`${r.name}: state_up 1`, async () => (await stateUp(r)) === 1, 5_000, 50);
      // Config keys: the failed start-up sync is retried (every 5 s).
      await until(`${r.name}: the config key to work`, async () => (await send(r, 'vkey')).status === 200, 8_000, 200);
      await expectRecovered(r);
      expect(logged(r, REACHABLE)).toBe(1);
    }
  });

  it('Redis killed under load and restarted empty on the same port: only documented refusals, then full recovery', async () => {
    const before = new Map([open, closed].map((r) => [r, { down: logged(r, UNREACHABLE), up: logged(r, REACHABLE), lost: logged(r, DATA_LOST) }]));
    const localBefore = await metric(open, 'llm_router_state_local_reserves_total');
    const refusedBefore = await metric(closed, 'llm_router_state_refused_total');
    let stop = false;
    const runs = [open, closed].map((r) => load(r, 3, () => stop));
    await sleep(600);
    const killedAt = performance.now();
    await redis.kill();
    await sleep(300);
    const downUp = await Promise.all([stateUp(open), stateUp(closed)]);
    await sleep(900);
    const restartAt = performance.now();
    await redis.start();
    await sleep(800);
    stop = true;
    const [openAnswers, closedAnswers] = await Promise.all(runs);
    expect(downUp).toEqual([0, 0]);

    const runsByRouter: Array<[Router, Answer[]]> = [[open, openAnswers!], [closed, closedAnswers!]];
    for (const [r, answers] of runsByRouter) {
      expect(answers.length).toBeGreaterThan(30);
      // No 5xx beyond the documented 503s, at any time.
      const undocumented = answers.filter((a) => a.status >= 500 && !(a.status === 503 && ['state_unavailable', 'auth_unavailable'].includes(a.code ?? '')));
      expect(undocumented, describeAnswers(undocumented)).toEqual([]);
      expect(answers.filter((a) => a.status !== 200 && a.status !== 202 && a.status !== 503), describeAnswers(answers)).toEqual([]);
      // Sent once Redis was surely gone, answered before it came back: the documented behaviour.
      const during = answers.filter((a) => a.sentAt > killedAt + 100 && a.doneAt < restartAt);
      expect(during.length).toBeGreaterThan(5);
      const bad = during.filter((a) => !allowedWhileDown(a, r === closed));
      expect(bad, `${r.name}: ${describeAnswers(bad)}`).toEqual([]);
      expect(Math.max(...answers.map((a) => a.doneAt - a.sentAt))).toBeLessThan(BOUND_MS);
      for (const a of answers.filter((x) => x.kind === 'stream' || x.kind === 'resumable')) expect(wholeStream(a), a.text.slice(-300)).toBe(true);
    }
    // Counted: reservations answered locally (fail-open), limited requests refused (fail-closed).
    expect(await metric(open, 'llm_router_state_local_reserves_total')).toBeGreaterThan(localBefore);
    expect(await metric(closed, 'llm_router_state_refused_total')).toBeGreaterThan(refusedBefore);
    for (const r of [open, closed]) {
      await expectRecovered(r);
      // One warning for the outage, one recovery line, one for the lost data: however many requests and reconnect attempts.
      expect(logged(r, UNREACHABLE) - before.get(r)!.down).toBe(1);
      expect(logged(r, REACHABLE) - before.get(r)!.up).toBe(1);
      expect(logged(r, DATA_LOST) - before.get(r)!.lost).toBe(1);
    }
  });

  it('Redis flushed (restarted empty): admin-API keys are gone (401), config keys are synced again with fresh limits, sessions are gone', async () => {
    const r = open;
    const created = await fetch(`${r.h.url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'only in redis' }) });
    expect(created.status).toBe(201);
    const apiKey = ((await created.json()) as { secret: string }).secret;
    expect((await send(r, 'plain', { key: apiKey })).status).toBe(200);
    await until('cfg-low to work', async () => (await send(r, 'plain', { key: VKEY_LOW })).status === 200, 8_000, 200);
    // rpm 2: one more, then refused.
    expect([(await send(r, 'plain', { key: VKEY_LOW })).status, (await send(r, 'plain', { key: VKEY_LOW })).status]).toEqual([200, 429]);
    const session = 'sess-before-the-flush';
    expect((await send(r, 'session', { session, content: 'remember me' })).status).toBe(200);
    expect((await get(r, `/v1/sessions/${session}`)).status).toBe(200);

    const lostBefore = logged(r, DATA_LOST);
    await redis.command('FLUSHALL');

    expect((await send(r, 'plain')).status).toBe(200);
    await until('the API key to be refused', async () => (await send(r, 'plain', { key: apiKey })).status === 401, 8_000, 200);
    // The config key is back, with a fresh rpm window (the counters went with the data).
    await until('cfg-low to be synced again', async () => (await send(r, 'plain', { key: VKEY_LOW })).status === 200, 8_000, 200);
    expect((await get(r, `/v1/sessions/${session}`)).status).toBe(404);
    up.reset();
    const turn = await send(r, 'session', { session, content: 'do you remember?' });
    expect(turn.status).toBe(200);
    const sent = up.chatRequests()[0]!.body as { messages: unknown[] };
    expect(sent.messages).toHaveLength(1);
    await expectRecovered(r);
    expect(logged(r, DATA_LOST) - lostBefore).toBe(1);
  });

  it('Redis killed mid-stream: the resumable stream is answered whole, a resume reader ends at once with an error event', async () => {
    const pieces = Array.from({ length: 12 }, (_, i) => `w${i} `);
    up.script({ contentChunks: pieces, stallAfterChunks: 4, stallMs: 1_200 });
    const res = await fetch(`${open.h.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'x-router-resumable': 'true' },
      body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'a long answer' }] }),
    });
    const streamId = res.headers.get('x-router-stream-id');
    expect(streamId).toMatch(/^strm_/);
    let firstId: (id: string) => void;
    const first = new Promise<string>((resolve) => (firstId = resolve));
    const live = readFrames(res, (f) => f.id && firstId(f.id));
    // A second client reads the same stream from its first event on: the backlog, then the live tail.
    const resume = await fetch(`${open.h.baseURL}/chat/completions/streams/${streamId}`, { headers: { authorization: `Bearer ${KEY}`, 'last-event-id': await first } });
    expect(resume.status).toBe(200);
    const resumed = readFrames(resume);
    await sleep(300); // inside the upstream's stall: the reader waits on Redis for the next event
    await redis.kill();
    const killedAt = performance.now();
    const tail = await resumed;
    expect(performance.now() - killedAt).toBeLessThan(BOUND_MS);
    expect(tail.at(-1)!.data).toBe('[DONE]');
    expect(JSON.parse(tail.at(-2)!.data)).toMatchObject({ error: { type: 'server_error' } });
    // The client that asked is served to the end; the events after the kill carry no id.
    const frames = await live;
    expect(textOf(frames)).toBe(pieces.join(''));
    expect(frames.at(-1)!.data).toBe('[DONE]');
    expect(frames.at(-1)!.id).toBeUndefined();
    await redis.start();
    await expectRecovered(open);
  });

  it('Redis slow (every call delayed past commandTimeoutMs): latency bounded, documented refusals only, recovery when fast again', async () => {
    proxy = await startRedisProxy(redis.port);
    proxied = await router('proxied', proxy.url, 'fail-open');
    await until('proxied: the config key to work', async () => (await send(proxied, 'vkey')).status === 200, 8_000, 100);
    await expectRecovered(proxied);
    const downBefore = logged(proxied, UNREACHABLE);

    proxy.setDelay(COMMAND_TIMEOUT_MS + 100);
    await sleep(50);
    let stop = false;
    const run = load(proxied, 3, () => stop);
    await sleep(2_000);
    stop = true;
    const answers = await run;
    expect(answers.length).toBeGreaterThan(8);
    const undocumented = answers.filter((a) => a.status >= 500 && !(a.status === 503 && ['state_unavailable', 'auth_unavailable'].includes(a.code ?? '')));
    expect(undocumented, describeAnswers(undocumented)).toEqual([]);
    // After the first slow call of each kind, answers are what a Redis that is down gives.
    const settled = answers.filter((a) => a.sentAt > answers[0]!.sentAt + 1_000 && a.kind !== 'vkey');
    const bad = settled.filter((a) => !allowedWhileDown(a, false));
    expect(bad, describeAnswers(bad)).toEqual([]);
    expect(Math.max(...answers.map((a) => a.doneAt - a.sentAt)), describeAnswers(answers)).toBeLessThan(SLOW_BOUND_MS);
    expect(await limiterMode(proxied, 'local')).toBe(1);

    proxy.setDelay(0);
    await expectRecovered(proxied);
    // Slow is not down: the connection stayed up, so no unreachable warning.
    expect(logged(proxied, UNREACHABLE)).toBe(downBefore);
  });

  it('failover to a promoted replica: the router follows the new primary, sessions carry on', async () => {
    replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(redis.port)] });
    await until('the replica to be in sync', async () => String(await replica!.command('INFO', 'replication')).includes('master_link_status:up'), 5_000, 50);
    const session = 'sess-across-the-failover';
    expect((await send(proxied, 'session', { session, content: 'before the failover' })).status).toBe(200);
    await redis.command('WAIT', 1, 1_000);

    // The primary dies, the replica is promoted, and the address (here: the proxy) moves to it.
    await redis.kill();
    await replica.command('REPLICAOF', 'NO', 'ONE');
    proxy.retarget(replica.port);

    await until('a session turn after the failover', async () => (await send(proxied, 'session', { session, content: 'after the failover' })).status === 200, 8_000, 100);
    const stored = await get(proxied, `/v1/sessions/${session}`);
    expect(stored.status).toBe(200);
    expect((stored.body.messages as unknown[]).length).toBe(4);
    await expectRecovered(proxied);
    // The replica had the data: nothing was lost, nothing written again.
    expect(logged(proxied, DATA_LOST)).toBe(0);
    // The routers on the dead primary keep answering plain requests.
    expect((await send(open, 'plain')).status).toBe(200);
  });

  it('TLS and an ACL user: the router connects with them and recovers over TLS; a wrong password is an outage like any other', async () => {
    const dir = tempDir('redis-faults-tls-');
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    secure = await startRedisServer({ tls: { certFile, keyFile, ca: readFileSync(certFile, 'utf8') }, user: { name: 'router', password: 'router-pass' } });
    expect(secure.url).toMatch(/^rediss:/);
    // The CA as a file path, the password from the environment.
    const redisAuth = (password: string) => [`tls: { ca: ${JSON.stringify(certFile)} }, username: router, password: "\${REDIS_PASSWORD}"`, { REDIS_PASSWORD: password }] as const;
    const [good, wrong] = await Promise.all([
      router('tls', secure.url, 'fail-open', ...redisAuth('router-pass')),
      router('tls-wrong-password', secure.url, 'fail-open', ...redisAuth('not-the-password')),
    ]);

    await until('tls: the config key to work', async () => (await send(good, 'vkey')).status === 200, 8_000, 100);
    await expectRecovered(good);
    await secure.kill();
    await until('tls: sessions refused while down', async () => (await send(good, 'session')).code === 'state_unavailable', 3_000, 50);
    expect((await send(good, 'plain')).status).toBe(200);
    await secure.start();
    await expectRecovered(good);

    // Refused credentials: started, answering, degraded, one warning however often it retries.
    const answers: Answer[] = [];
    for (let round = 0; round < 2; round++) for (const kind of KINDS) answers.push(await send(wrong, kind));
    const bad = answers.filter((a) => !allowedWhileDown(a, false));
    expect(bad, describeAnswers(bad)).toEqual([]);
    expect(await stateUp(wrong)).toBe(0);
    expect(logged(wrong, UNREACHABLE), JSON.stringify(wrong.logs.map((l) => l.msg))).toBe(1);
    expect(wrong.logs.find((l) => UNREACHABLE.test(l.msg)) as unknown).toMatchObject({ err: expect.stringMatching(/WRONGPASS|NOAUTH|invalid username-password/i) });
  });
});
