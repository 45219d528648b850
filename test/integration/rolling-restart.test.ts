import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { createBalancer, exchange, type Sent, type Slot } from '../fixtures/load-balancer.js';
import { startRouterProcess } from '../fixtures/router-process.js';
import { deletePrefix } from '../unit/state/redis-test-support.js';

/**
 * Many instances, one router: three router processes on loopback share the machine's Redis
 * (under a prefix of this run only, deleted afterwards) behind the test balancer
 * (fixtures/load-balancer.ts: round-robin over instances whose /readyz is 200, a refused
 * connection goes to the next one, nothing else is retried). A rolling restart does what
 * deploy/k8s does: the instance leaves the rotation first (the endpoint removal that the
 * preStop sleep waits for), then gets SIGTERM, drains and exits; a new process starts on a new
 * port and is added back, while the load goes on. No request may fail. Without the removal
 * first, SIGTERM closes idle kept-alive connections that a client may be sending on at that
 * moment (a reset, not an answer), which is why deploy/k8s sleeps in preStop.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `llm-router-test:${process.pid}-${Date.now()}:`;
const KEY_SECRET = 'rolling-restart-key-secret-0123456789abcdef';
/** What a preStop sleep gives the balancer to stop sending before SIGTERM (deploy/k8s: 10 s). */
const PRESTOP_MS = 150;
/** A stream takes ~STALL_MS: longer than PRESTOP_MS, so streams are in flight at every SIGTERM. */
const STALL_MS = 600;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

let up: FakeUpstream;
let bad: FakeUpstream;
let dir: string;
let configFile: string;
const slots: Slot[] = [];
let lb: ReturnType<typeof createBalancer>;
let appKey: string;

function writeConfig(): string {
  const file = path.join(dir, 'router.yaml');
  writeFileSync(
    file,
    `server:
  host: 127.0.0.1
  port: 0
  drainMs: 8000
  adminListen: { host: 127.0.0.1, port: 0 }
auth:
  # Every /v1 call needs a key; keys are made through /admin/keys and live in Redis.
  requireKeys: true
  keySecret: ${KEY_SECRET}
state:
  backend: redis
  dataDir: ${JSON.stringify(path.join(dir, 'data'))}
  # Two shared cores running four processes can stall an event loop past the 500 ms default.
  redis: { url: ${REDIS_URL}, keyPrefix: ${JSON.stringify(PREFIX)}, commandTimeoutMs: 5000 }
providers:
  up: { kind: openai, apiKeys: [upstream-key], baseURL: "${up.url}/v1", timeoutMs: 10000 }
  bad: { kind: openai, apiKeys: [upstream-key], baseURL: "${bad.url}/v1", timeoutMs: 10000 }
routes:
  chat:
    targets: [{ provider: up, model: gpt-4o-mini }]
  failover:
    targets: [{ provider: bad, model: gpt-4o-mini }, { provider: up, model: gpt-4o-mini }]
    breaker: { minRequests: 3, windowMs: 10000, openMs: 1500 }
    healthCheck: { intervalMs: 500 }
`,
  );
  return file;
}

async function startSlot(name: string): Promise<Slot> {
  const proc = await startRouterProcess(configFile);
  return { name, proc, gen: 0, agent: new http.Agent({ keepAlive: true }), inRotation: true, ready: false, inFlight: new Set() };
}

beforeAll(async () => {
  up = await startFakeUpstream();
  bad = await startFakeUpstream();
  // A little delay everywhere; streams pause mid-answer so that they are in flight at SIGTERM.
  up.scriptAlways((req) => ((req.body as { stream?: boolean } | undefined)?.stream ? { delayMs: 20, stallAfterChunks: 2, stallMs: STALL_MS } : { delayMs: 40 + Math.floor(Math.random() * 120) }));
  // The hard-failing primary: every call (chat, model list, probes) is a 500.
  bad.scriptAlways(() => ({ status: 500 }));
  dir = mkdtempSync(path.join(tmpdir(), 'router-rolling-'));
  configFile = writeConfig();
  slots.push(...(await Promise.all(['a', 'b', 'c'].map(startSlot))));
  lb = createBalancer(slots);
  await until('three ready instances', () => slots.every((s) => s.ready));
  // A key made on one instance: every instance (and every process started later) finds it in Redis.
  const made = await exchange(slots[0]!.proc.adminUrl!, false, 'POST', '/admin/keys', {}, JSON.stringify({ name: 'rolling-restart' }));
  expect(made.status, made.text).toBe(201);
  appKey = (JSON.parse(made.text) as { secret: string }).secret;
}, 60_000);

afterAll(async () => {
  lb?.close();
  for (const s of slots) {
    s.proc.child.kill('SIGKILL');
    s.agent.destroy();
  }
  await Promise.all(slots.map((s) => s.proc.exited));
  await up?.close();
  await bad?.close();
  await deletePrefix(REDIS_URL, PREFIX);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The sum of the values a pattern's first group captures over the instances' /metrics texts. */
const sumOf = (texts: string[], pattern: RegExp) => texts.reduce((n, t) => n + [...t.matchAll(pattern)].reduce((m, x) => m + Number(x[1]), 0), 0);

const failures = (list: Sent[]) => list.filter((s) => s.problem !== undefined).map((s) => `${s.slot}#${s.gen} ${s.stream ? 'stream' : 'json'}: ${s.problem}`);

describe('three router processes sharing Redis behind a load balancer', () => {
  it('a rolling restart under load loses no request: every stream ends with a finish_reason and [DONE]', async () => {
    const load = lb.load({ model: 'chat', auth: appKey, workers: 6, max: 3_000 });
    const restarts: Array<{ slot: string; gen: number; sigtermAt: number; code: number | null }> = [];
    await until('load on every instance', () => slots.every((s) => load.done.some((d) => d.slot === s.name)));

    for (const slot of slots) {
      // Take it out while a fresh stream is in flight on it: that stream must finish during the drain.
      await until(`a fresh stream on ${slot.name}`, () => [...slot.inFlight].some((s) => s.stream && performance.now() - s.startedAt < 100), 10_000);
      slot.inRotation = false; // Terminating: the endpoint is removed while preStop sleeps…
      await sleep(PRESTOP_MS);
      const old = slot.proc;
      const sigtermAt = performance.now();
      old.child.kill('SIGTERM'); // …then the kubelet sends SIGTERM.
      const code = await old.exited;
      restarts.push({ slot: slot.name, gen: slot.gen, sigtermAt, code });
      slot.agent.destroy();
      slot.proc = await startRouterProcess(configFile);
      slot.gen++;
      slot.agent = new http.Agent({ keepAlive: true });
      slot.ready = false;
      slot.inRotation = true; // added back; it gets traffic once its /readyz says 200
      await until(`${slot.name} serving again`, () => load.done.some((d) => d.slot === slot.name && d.gen === slot.gen && d.problem === undefined), 30_000);
    }
    await sleep(500);
    const done = await load.stop();

    expect(failures(done)).toEqual([]);
    // Every old process drained cleanly (exit 0: everything in flight finished within drainMs)…
    expect(restarts.map((r) => r.code)).toEqual([0, 0, 0]);
    for (const r of restarts) {
      // …after answering, in full, requests that were in flight when SIGTERM came.
      const drained = done.filter((d) => d.slot === r.slot && d.gen === r.gen && d.startedAt < r.sigtermAt && d.endedAt! > r.sigtermAt);
      expect(drained.length, `requests in flight on ${r.slot} at SIGTERM`).toBeGreaterThan(0);
      expect(drained.some((d) => d.stream)).toBe(true);
    }
    expect(done.filter((d) => d.stream).length).toBeGreaterThan(20);
    expect(done.filter((d) => !d.stream).length).toBeGreaterThan(20);
    expect(new Set(done.map((d) => d.provider))).toEqual(new Set(['up']));
  }, 80_000);

  it('a hard-failing primary with a healthy fallback: no app error on any instance', async () => {
    bad.reset();
    bad.scriptAlways(() => ({ status: 500 }));
    up.scriptAlways((req) => ((req.body as { stream?: boolean } | undefined)?.stream ? { delayMs: 20, stallAfterChunks: 2, stallMs: 80 } : { delayMs: 40 }));
    const load = lb.load({ model: 'failover', auth: appKey, workers: 6, max: 240 });
    await until('240 answers', () => load.done.length >= 240, 30_000);
    const done = await load.stop();

    expect(failures(done)).toEqual([]);
    expect(done).toHaveLength(240);
    expect(new Set(done.map((d) => d.provider))).toEqual(new Set(['up']));
    expect(new Set(done.map((d) => d.slot))).toEqual(new Set(['a', 'b', 'c']));
    expect(done.filter((d) => d.stream).length).toBe(120);
    // The primary was really tried (its breaker opened: per instance, or once for all when
    // instances share target health), and the answers came from the fallback.
    expect(bad.chatRequests().length).toBeGreaterThanOrEqual(3);
    const texts = await Promise.all(slots.map(async (s) => (await exchange(s.proc.adminUrl!, false, 'GET', '/metrics', {})).text));
    expect(sumOf(texts, /^llm_router_fallbacks_total\{[^}]*route="failover"[^}]*\} (\S+)$/gm)).toBeGreaterThan(0);
    expect(sumOf(texts, /^llm_router_breaker_transitions_total\{[^}]*provider="bad"[^}]*to="open"[^}]*\} (\S+)$/gm)).toBeGreaterThan(0);
  }, 60_000);
});
