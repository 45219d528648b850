/**
 * What the Redis backend does when Redis goes away, against a redis-server of our own on a
 * free port (never the shared one on 6379): frozen (SIGSTOP: connected, no answers), killed,
 * and restarted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { StateUnavailableError } from '../../../src/state/index.js';
import type { FailoverLimiter } from '../../../src/state/failover-limiter.js';
import type { StateLogger } from '../../../src/state/state-logger.js';
import type { ObservableStateBackend } from '../../../src/state/state-stats.js';
import type { BucketSpec } from '../../../src/state/types.js';
import { keyRecord, usageRecord, waitFor } from './state-fixtures.js';
import { openRedisBackend, redisStateConfig } from './redis-test-support.js';

const root = await mkdtemp(path.join(tmpdir(), 'llm-router-fault-'));
let port = 0;
let server: ChildProcess | undefined;
const backends: ObservableStateBackend[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as { port: number };
      s.close(() => resolve(p));
    });
  });
}

async function startServer(): Promise<void> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  server = child;
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const probe = spawn('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        probe.stdout.on('data', (d: Buffer) => (out += d.toString()));
        probe.on('close', () => resolve(out.includes('PONG')));
      }),
    5_000,
    'redis-server to answer',
  );
}

async function killServer(): Promise<void> {
  const child = server;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Records log lines by message, to count how often a transition was logged. */
function recordingLogger(): StateLogger & { lines: string[] } {
  const lines: string[] = [];
  const push = (_: object, msg?: string) => void lines.push(msg ?? '');
  return { lines, info: push, warn: push, error: push };
}

/** How long a call took to settle, and how. Measured from when `p` is handed in: pass a fresh call. */
async function timed<T>(p: Promise<T>): Promise<{ ms: number; error?: unknown; value?: T }> {
  const t = performance.now();
  try {
    const value = await p;
    return { ms: performance.now() - t, value };
  } catch (error) {
    return { ms: performance.now() - t, error };
  }
}

/** "At once" and "after the timeout", with room for a loaded machine (the timeout is 200 ms). */
const FAST_MS = 100;
const TIMEOUT_MAX_MS = 1_000;

const rpm: BucketSpec = { kind: 'rate', key: 'rpm', limit: 1_000, windowMs: 60_000, amount: 1 };
const TTL = { ttlMs: 30_000 };

beforeAll(async () => {
  port = await freePort();
  await startServer();
});

afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
  await killServer();
  await rm(root, { recursive: true, force: true });
});

describe('redis backend when Redis fails', () => {
  const prefix = `llm-router-fault:${process.pid}:`;
  const url = () => `redis://127.0.0.1:${port}`;
  const log = recordingLogger();
  let open: ObservableStateBackend;
  let closed: ObservableStateBackend;

  it('works while Redis answers', async () => {
    const fast = { commandTimeoutMs: 200, maxQueuedCommands: 5, connectTimeoutMs: 500 };
    open = await openRedisBackend(redisStateConfig(url(), prefix, fast, 'fail-open'), path.join(root, 'open'), log);
    closed = await openRedisBackend(redisStateConfig(url(), prefix, fast, 'fail-closed'), path.join(root, 'closed'));
    backends.push(open, closed);
    expect(open.healthy()).toBe(true);
    await open.keys.put(keyRecord('key_f', ['hf']));
    expect((await closed.keys.findByHash('hf'))?.id).toBe('key_f');
    expect((await open.limiter.reserve([rpm], TTL)).ok).toBe(true);
    expect(open.stats().limiter?.mode).toBe('shared');
  });

  it('frozen Redis: calls time out at commandTimeoutMs, the queue is bounded, fail-open answers locally', async () => {
    server!.kill('SIGSTOP');
    try {
      const waiting = Array.from({ length: 5 }, () => timed(open.keys.get('key_f')));
      const overflow = await timed(open.keys.get('key_f'));
      expect(overflow.error).toBeInstanceOf(StateUnavailableError);
      expect(overflow.ms).toBeLessThan(FAST_MS);
      for (const w of await Promise.all(waiting)) {
        expect(w.error).toBeInstanceOf(StateUnavailableError);
        expect(w.ms).toBeGreaterThanOrEqual(190);
        expect(w.ms).toBeLessThan(TIMEOUT_MAX_MS);
      }
      const local = await timed(open.limiter.reserve([rpm], TTL));
      expect(local.value?.ok).toBe(true);
      expect(local.ms).toBeLessThan(TIMEOUT_MAX_MS);
      expect(open.stats().limiter?.mode).toBe('local');
      const refused = await timed(closed.limiter.reserve([rpm], TTL));
      expect(refused.error).toBeInstanceOf(StateUnavailableError);
      expect(refused.ms).toBeLessThan(TIMEOUT_MAX_MS);
      // Skipped during the cool-down: no second wait for a hung Redis.
      const next = await timed(open.limiter.reserve([rpm], TTL));
      expect(next.ms).toBeLessThan(FAST_MS);
    } finally {
      server!.kill('SIGCONT');
    }
    await waitFor(async () => (await open.limiter.reserve([rpm], TTL)).ok && open.stats().limiter?.mode === 'shared', 3_000, 'shared limits again');
  });

  it('killed Redis: calls reject at once, fail-open limits from local buckets, usage spills to the local ledger', async () => {
    const shared = await open.limiter.reserve([rpm], TTL);
    const linesBefore = log.lines.length;
    await killServer();
    await waitFor(() => !open.healthy() && !closed.healthy(), 1_000, 'the connections to notice');

    const calls: Array<() => Promise<unknown>> = [
      () => open.keys.get('key_f'),
      () => open.keys.findByHash('hf'),
      () => open.keys.put(keyRecord('key_g', ['hg'])),
      () => closed.limiter.reserve([rpm], TTL),
      () => closed.limiter.peek([rpm]),
    ];
    for (const call of calls) {
      const r = await timed(call());
      expect(r.error).toBeInstanceOf(StateUnavailableError);
      expect(r.ms).toBeLessThan(FAST_MS);
    }
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await timed(open.limiter.reserve([rpm, { kind: 'concurrency', key: 'c', limit: 2 }], TTL)));
    expect(results.filter((r) => r.value?.ok)).toHaveLength(2); // local buckets enforce the limits
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(FAST_MS);
    const local = results[0]!.value!;
    if (!local.ok) throw new Error('refused');
    await open.limiter.settle(local.reservation, []); // a local reservation settles locally
    expect((await open.limiter.reserve([{ kind: 'concurrency', key: 'c', limit: 2 }], TTL)).ok).toBe(true);
    await open.limiter.settle(shared.ok ? shared.reservation : '', [{ key: 'rpm', amount: 0 }]); // lost, not thrown
    await expect(closed.limiter.settle('some-shared-id', [])).rejects.toBeInstanceOf(StateUnavailableError);
    const stats = (open.limiter as FailoverLimiter).stats();
    expect(stats).toMatchObject({ mode: 'local', lostSettles: 1 });
    expect(stats.localReserves).toBeGreaterThanOrEqual(21);
    expect(log.lines.slice(linesBefore).filter((l) => l.includes('local buckets'))).toHaveLength(1);

    open.usage.append(usageRecord({ requestId: 'during-outage' }));
    await open.usage.flush();
    expect(open.stats().usage.spilled).toBe(1);
    expect(await readdir(path.join(root, 'open', 'data', 'usage'))).toEqual(['usage-2026-03-01.jsonl']);
  });

  it('restarted Redis: reconnects on its own, limits are shared again, key changes flow again', async () => {
    await startServer();
    await waitFor(() => open.healthy() && closed.healthy(), 5_000, 'reconnection');
    expect((await closed.limiter.reserve([rpm], TTL)).ok).toBe(true);
    expect((await open.limiter.reserve([rpm], TTL)).ok).toBe(true);
    expect(open.stats().limiter?.mode).toBe('shared');
    const seen: string[] = [];
    open.keys.onChange((id) => seen.push(id));
    await waitFor(async () => {
      await closed.keys.put(keyRecord('key_after', ['ha']));
      return seen.includes('key_after');
    }, 3_000, 'the change channel to be resubscribed');
  });

  it('an unreachable Redis at start: start-up goes on degraded after connectTimeoutMs', async () => {
    const dead = await freePort();
    const t = performance.now();
    const backend = await openRedisBackend(
      redisStateConfig(`redis://127.0.0.1:${dead}`, prefix, { connectTimeoutMs: 300, commandTimeoutMs: 200 }),
      path.join(root, 'dead'),
      undefined,
      0,
    );
    backends.push(backend);
    expect(performance.now() - t).toBeLessThan(3_000);
    expect(backend.healthy()).toBe(false);
    expect((await backend.limiter.reserve([rpm], TTL)).ok).toBe(true);
    await expect(backend.keys.list()).rejects.toBeInstanceOf(StateUnavailableError);
  });
});
