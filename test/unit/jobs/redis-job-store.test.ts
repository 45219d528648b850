import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

import { createJobRunner, JobAbortError, type JobExecute, type JobRunnerOptions } from '../../../src/jobs/job-runner.js';
import { JobQueueFullError } from '../../../src/jobs/job-errors.js';
import { interruptedError, type JobRecord } from '../../../src/jobs/job-store.js';
import { RedisJobStore } from '../../../src/jobs/redis-job-store.js';
import { RedisConnection } from '../../../src/state/redis/redis-connection.js';
import { redisSchema } from '../../../src/state/state-schema.js';
import { deletePrefix, TEST_REDIS_URL } from '../state/redis-test-support.js';
import { describeJobStoreContract } from './job-store-contract.js';
import { chatBody, completion, deferred, queuedJob, recordingLogger, sleep, waitFor } from './jobs-test-support.js';

/** Everything this file writes lives under here; deleted at the end. */
const base = `llm-router-test:${process.pid}-${Date.now()}:jobs:`;
const conns: RedisConnection[] = [];
const stores: RedisJobStore[] = [];
let n = 0;

afterAll(async () => {
  for (const s of stores) await s.close();
  for (const c of conns) await c.close();
  await deletePrefix(TEST_REDIS_URL, base);
});

/** One "router instance": its own connections, on the shared namespace `ns`. */
async function openStore(ns: string, resultTtlMs = 60_000): Promise<{ store: RedisJobStore; conn: RedisConnection }> {
  const conn = new RedisConnection(redisSchema.parse({ url: TEST_REDIS_URL, keyPrefix: base, commandTimeoutMs: 2_000 }));
  conns.push(conn);
  if (!(await conn.waitReady(5_000))) throw new Error('test Redis at 127.0.0.1:6379 is not reachable');
  const store = new RedisJobStore(conn, ns, { resultTtlMs });
  stores.push(store);
  await store.whenSubscribed(2_000);
  return { store, conn };
}

const freshNs = () => `${base}${n++}:`;

describeJobStoreContract({ name: 'redis', open: async () => (await openStore(freshNs())).store });

function runnerOn(store: RedisJobStore, instanceId: string, execute: JobExecute, extra: Partial<JobRunnerOptions> = {}) {
  return createJobRunner({ store, concurrency: 3, maxQueued: 1_000, leaseMs: 600, maxAttempts: 2, execute, logger: recordingLogger(), instanceId, pollMs: 20, retryDelayMs: 10, ...extra });
}

const endOf = async (store: RedisJobStore, id: string): Promise<JobRecord> => {
  let job: JobRecord | undefined;
  await waitFor(async () => {
    job = await store.get(id);
    return job !== undefined && ['succeeded', 'failed', 'cancelled'].includes(job.status);
  }, 8_000, `job ${id} to end`);
  return job!;
};

describe('RedisJobStore', () => {
  it('two instances competing over 20 jobs run each exactly once', async () => {
    const ns = freshNs();
    const a = await openStore(ns);
    const b = await openStore(ns);
    const runs = new Map<string, string[]>();
    const inFlight = new Set<string>();
    let overlap = false;
    const execute = (who: string): JobExecute => async (job) => {
      if (inFlight.has(job.id)) overlap = true;
      inFlight.add(job.id);
      runs.set(job.id, [...(runs.get(job.id) ?? []), who]);
      await sleep(5 + Math.floor(Math.random() * 20));
      inFlight.delete(job.id);
      return { status: 200, body: completion(who) };
    };
    const ra = runnerOn(a.store, 'inst-a', execute('a'));
    const rb = runnerOn(b.store, 'inst-b', execute('b'));
    const jobs = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? ra : rb).submit('key_a', undefined, chatBody(`q${i}`))));
    await Promise.all([ra.start(), rb.start()]);
    for (const job of jobs) expect(await endOf(a.store, job.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    await Promise.all([ra.close(), rb.close()]);
    expect([...runs.values()].every((who) => who.length === 1)).toBe(true);
    expect(runs.size).toBe(20);
    expect(overlap).toBe(false);
  });

  it('a job whose instance died is taken up by another once the lease runs out; the dead one can no longer finish it', async () => {
    const ns = freshNs();
    const { store } = await openStore(ns);
    const job = queuedJob();
    await store.create(job, 10);
    expect(await store.claim('dead-instance', 300)).toMatchObject({ attempts: 1 }); // and never heard of again

    const seen: JobRecord[] = [];
    const other = await openStore(ns);
    const runner = runnerOn(other.store, 'inst-live', async (j) => {
      seen.push(j);
      return { status: 200, body: completion('rescued') };
    }, { leaseMs: 300 });
    await runner.start();
    expect(await endOf(store, job.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(seen.map((j) => j.attempts)).toEqual([2]);
    expect(await store.finish(job.id, 'dead-instance', { status: 'succeeded', result: 'stale' }, 0)).toBeUndefined();
    expect((await store.get(job.id))?.result).toMatchObject({ object: 'chat.completion' });
    await runner.close();
  });

  it('an instance that loses Redis stops its run before another instance may start it', async () => {
    const ns = freshNs();
    const a = await openStore(ns);
    const b = await openStore(ns);
    const aborted = deferred<{ at: number; reason: unknown }>();
    const ra = runnerOn(a.store, 'inst-a', async (_job, signal) => {
      await new Promise((r) => signal.addEventListener('abort', r));
      aborted.resolve({ at: Date.now(), reason: signal.reason });
      return { status: 499, body: {} };
    }, { leaseMs: 900 });
    await ra.start();
    const job = await ra.submit('key_a', undefined, chatBody());
    await waitFor(async () => (await b.store.get(job.id))?.status === 'running', 3_000, 'run on a');
    await a.conn.close(); // a is cut off: its heartbeats fail from now on

    let startedOnB = 0;
    const rb = runnerOn(b.store, 'inst-b', async () => {
      startedOnB = Date.now();
      return { status: 200, body: completion('b') };
    }, { leaseMs: 900 });
    await rb.start();
    const stop = await aborted.promise;
    expect((stop.reason as JobAbortError).reason).toBe('lease_lost');
    expect(await endOf(b.store, job.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(startedOnB).toBeGreaterThan(stop.at);
    await Promise.all([ra.close(), rb.close()]);
  });

  it('reaping fails a job out of attempts with the reason, the same words as the file store', async () => {
    const { store } = await openStore(freshNs());
    const job = queuedJob();
    await store.create(job, 10);
    await store.claim('dead-1', 100);
    await sleep(150);
    expect(await store.reap(2)).toEqual([]);
    expect(await store.get(job.id)).toMatchObject({ status: 'queued', attempts: 1 });
    await store.claim('dead-2', 100);
    await sleep(150);
    const settled = await store.reap(2);
    expect(settled).toHaveLength(1);
    expect(settled[0]).toMatchObject({ id: job.id, status: 'failed', attempts: 2, error: interruptedError(2) });
    expect(await store.reap(2)).toEqual([]); // once
  });

  it('a cancel on one instance aborts the run on the other (pub/sub)', async () => {
    const ns = freshNs();
    const a = await openStore(ns);
    const b = await openStore(ns);
    const started = deferred<AbortSignal>();
    const ra = runnerOn(a.store, 'inst-a', async (_job, signal) => {
      started.resolve(signal);
      await new Promise((r) => signal.addEventListener('abort', r));
      return { status: 200, body: completion('ignored') };
    }, { leaseMs: 60_000 }); // heartbeats every 20 s: only the event can be this quick
    const rb = runnerOn(b.store, 'inst-b', async () => ({ status: 200, body: completion('never') }), { leaseMs: 60_000 });
    await ra.start();
    const job = await ra.submit('key_a', undefined, chatBody());
    const signal = await started.promise;
    expect(await rb.cancel(job.id, 'key_b')).toBeUndefined();
    expect(await rb.cancel(job.id, 'key_a')).toMatchObject({ status: 'cancelled' });
    await waitFor(() => signal.aborted, 2_000, 'abort on a');
    expect((signal.reason as JobAbortError).reason).toBe('cancelled');
    const end = await endOf(b.store, job.id);
    expect(end).toMatchObject({ status: 'cancelled' });
    await waitFor(async () => (await b.store.get(job.id))?.lease === undefined, 2_000, 'lease released');
    expect((await b.store.get(job.id))?.result).toBeUndefined();
    await Promise.all([ra.close(), rb.close()]);
  });

  it('finished jobs expire after the result TTL; waiting ones do not', async () => {
    const { store } = await openStore(freshNs(), 400);
    const done = queuedJob();
    const waiting = queuedJob();
    await store.create(done, 10);
    await store.claim('inst', 10_000);
    await store.create(waiting, 10);
    await store.finish(done.id, 'inst', { status: 'succeeded', result: 1 }, 0);
    expect(await store.get(done.id)).toBeDefined();
    await sleep(600);
    expect(await store.get(done.id)).toBeUndefined();
    expect(await store.get(waiting.id)).toBeDefined();
  });

  it('bounds the queue across instances', async () => {
    const ns = freshNs();
    const a = await openStore(ns);
    const b = await openStore(ns);
    await a.store.create(queuedJob(), 2);
    await b.store.create(queuedJob(), 2);
    await expect(a.store.create(queuedJob(), 2)).rejects.toBeInstanceOf(JobQueueFullError);
    await expect(b.store.create(queuedJob(), 2)).rejects.toBeInstanceOf(JobQueueFullError);
  });

  it('keeps its keys under its prefix, the job hash readable field by field', async () => {
    const ns = freshNs();
    const { store } = await openStore(ns);
    const job = queuedJob('key_a', { team: 'red' });
    await store.create(job, 10);
    const raw = new Redis(TEST_REDIS_URL);
    try {
      expect((await raw.keys(`${ns}*`)).sort()).toEqual([`${ns}job:${job.id}`, `${ns}queue`]);
      expect(await raw.hget(`${ns}job:${job.id}`, 'status')).toBe('queued');
      expect(JSON.parse((await raw.hget(`${ns}job:${job.id}`, 'request'))!)).toEqual(job.request);
    } finally {
      raw.disconnect();
    }
  });

  it('answers StateUnavailableError while Redis is out of reach', async () => {
    const { store, conn } = await openStore(freshNs());
    await conn.close();
    await expect(store.create(queuedJob(), 10)).rejects.toThrow(/state store closed/);
    await expect(store.get(queuedJob().id)).rejects.toMatchObject({ name: 'StateUnavailableError' });
  });
});
