import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { FileJobStore } from '../../../src/jobs/file-job-store.js';
import { JobQueueFullError, JobRequestTooLargeError, JobRunnerClosedError, JobWebhookNotAllowedError } from '../../../src/jobs/job-errors.js';
import { createJobRunner, JobAbortError, type JobExecute, type JobRunner, type JobRunnerOptions } from '../../../src/jobs/job-runner.js';
import type { JobRecord, JobStore } from '../../../src/jobs/job-store.js';
import { StateUnavailableError } from '../../../src/state/types.js';
import { createJobWebhook } from '../../../src/jobs/job-webhook.js';
import { chatBody, completion, deferred, recordingLogger, sleep, waitFor } from './jobs-test-support.js';

const root = await mkdtemp(path.join(tmpdir(), 'llm-router-jobs-runner-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let n = 0;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const ok = (text = 'done', tokens = 3) => ({ status: 200, body: completion(text, tokens) });
const err = (status: number, code: string, type = status >= 500 ? 'upstream_error' : 'invalid_request_error') => ({ status, body: { error: { message: `failed ${code}`, type, param: null, code } } });

async function setup(execute: JobExecute, extra: Partial<JobRunnerOptions> = {}, dir = path.join(root, `t${n++}`)) {
  const store = await FileJobStore.open({ dir, resultTtlMs: 60_000, leaseMs: 3_000 });
  const logger = recordingLogger();
  const runner = createJobRunner({
    store,
    concurrency: 2,
    maxQueued: 100,
    leaseMs: 3_000,
    maxAttempts: 2,
    execute,
    logger,
    instanceId: `inst-${n}`,
    pollMs: 20,
    retryDelayMs: 10,
    ...extra,
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await runner.close();
    await store.close();
  };
  cleanups.push(close);
  return { store, runner, logger, dir, close };
}

const finished = async (runner: JobRunner, id: string, owner = 'key_a'): Promise<JobRecord> => {
  let job: JobRecord | undefined;
  await waitFor(async () => {
    job = await runner.get(id, owner);
    return job !== undefined && ['succeeded', 'failed', 'cancelled'].includes(job.status);
  }, 5_000, `job ${id} to end`);
  return job!;
};

/** The store with its renew replaced (a store whose heartbeats fail). */
function withRenew(store: JobStore, renew: JobStore['renew']): JobStore {
  const bound = Object.fromEntries(
    (['create', 'get', 'claim', 'progress', 'finish', 'release', 'cancel', 'reap', 'sweep', 'queued', 'onEvent', 'close'] as const).map((m) => [m, store[m].bind(store)]),
  );
  return { ...bound, kind: store.kind, renew } as JobStore;
}

describe('job runner', () => {
  it('runs jobs at most `concurrency` at once and stores the chat.completion; progress shows while it runs', async () => {
    let active = 0;
    let peak = 0;
    const gate = deferred();
    const { runner } = await setup(async (job, _signal, progress) => {
      active++;
      peak = Math.max(peak, active);
      progress(2);
      progress(5);
      await gate.promise;
      active--;
      return ok(`answer to ${(job.request as { messages: Array<{ content: string }> }).messages[0]!.content}`, 7);
    }, { progressIntervalMs: 0 });
    await runner.start();
    const jobs = await Promise.all([1, 2, 3, 4, 5].map((i) => runner.submit('key_a', 'red', chatBody(`q${i}`))));
    expect(jobs[0]).toMatchObject({ status: 'queued', owner: 'key_a', team: 'red', attempts: 0 });

    await waitFor(() => active === 2, 2_000, 'two runs');
    await sleep(100);
    expect(active).toBe(2);
    const running = (await Promise.all(jobs.map((j) => runner.get(j.id, 'key_a')))).filter((j) => j?.status === 'running');
    expect(running).toHaveLength(2);
    expect(running[0]?.progress.completionTokens).toBe(5);
    gate.resolve();

    for (const [i, job] of jobs.entries()) {
      const done = await finished(runner, job.id);
      expect(done).toMatchObject({ status: 'succeeded', attempts: 1, progress: { completionTokens: 5 } });
      expect(done.result).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: `answer to q${i + 1}` } }] });
    }
    expect(peak).toBe(2);
  });

  it('fails a 4xx at once, retries a 5xx and a throw, and fails with the last error once out of attempts', async () => {
    const answers = new Map<string, Array<() => Promise<{ status: number; body: unknown }>>>();
    const calls = new Map<string, number>();
    const { runner } = await setup(async (job) => {
      calls.set(job.id, (calls.get(job.id) ?? 0) + 1);
      const next = answers.get((job.request as { model: string }).model)!.shift()!;
      return next();
    }, { maxAttempts: 3 });
    answers.set('bad', [async () => err(400, 'invalid_value')]);
    answers.set('flaky', [async () => err(502, 'upstream_error'), async () => { throw new Error('boom'); }, async () => ok('finally')]);
    answers.set('down', [async () => err(503, 'no_healthy_upstream', 'service_unavailable'), async () => err(502, 'a'), async () => err(504, 'upstream_timeout', 'timeout_error')]);
    answers.set('limited', [async () => err(429, 'rate_limit_exceeded', 'rate_limit_error'), async () => ok('after the limit')]);
    answers.set('broke', [async () => err(429, 'insufficient_quota', 'insufficient_quota')]);
    await runner.start();
    const submit = (model: string) => runner.submit('key_a', undefined, { ...chatBody(), model });
    const [bad, flaky, down, limited, broke] = await Promise.all(['bad', 'flaky', 'down', 'limited', 'broke'].map(submit));

    expect(await finished(runner, bad!.id)).toMatchObject({ status: 'failed', attempts: 1, error: { status: 400, code: 'invalid_value', message: 'failed invalid_value' } });
    expect(await finished(runner, flaky!.id)).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(await finished(runner, down!.id)).toMatchObject({ status: 'failed', attempts: 3, error: { status: 504, code: 'upstream_timeout', type: 'timeout_error' } });
    expect(await finished(runner, limited!.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(await finished(runner, broke!.id)).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'insufficient_quota' } });
    expect([calls.get(bad!.id), calls.get(flaky!.id), calls.get(down!.id)]).toEqual([1, 3, 3]);
  });

  it('cancels a queued job without running it, and aborts a running one (its late answer is dropped)', async () => {
    const started = deferred<AbortSignal>();
    const seen: string[] = [];
    const { runner } = await setup(async (job, signal) => {
      seen.push(job.id);
      started.resolve(signal);
      await new Promise((r) => signal.addEventListener('abort', r));
      return ok('too late');
    }, { concurrency: 1 });
    await runner.start();
    const running = await runner.submit('key_a', undefined, chatBody('one'));
    const signal = await started.promise;
    const waiting = await runner.submit('key_a', undefined, chatBody('two'));

    expect(await runner.cancel(waiting.id, 'key_b')).toBeUndefined(); // not theirs
    expect(await runner.cancel(waiting.id, 'key_a')).toMatchObject({ status: 'cancelled' });
    expect(await runner.cancel(running.id, 'key_a')).toMatchObject({ status: 'cancelled' });
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(JobAbortError);
    expect((signal.reason as JobAbortError).reason).toBe('cancelled');

    await runner.idle();
    const done = await runner.get(running.id, 'key_a');
    expect(done).toMatchObject({ status: 'cancelled' });
    expect(done?.result).toBeUndefined();
    expect(done?.lease).toBeUndefined();
    expect(seen).toEqual([running.id]);
    expect((await runner.get(waiting.id, 'key_a'))?.status).toBe('cancelled');
  });

  it('close() aborts running jobs and leaves them queued with the attempt not counted; the next runner runs them', async () => {
    const first = deferred<AbortSignal>();
    const s1 = await setup(async (_job, signal) => {
      first.resolve(signal);
      await new Promise((r) => signal.addEventListener('abort', r));
      throw signal.reason;
    });
    await s1.runner.start();
    const job = await s1.runner.submit('key_a', undefined, chatBody());
    const signal = await first.promise;
    await s1.close();
    expect((signal.reason as JobAbortError).reason).toBe('shutdown');
    await expect(s1.runner.submit('key_a', undefined, chatBody())).rejects.toBeInstanceOf(JobRunnerClosedError);

    const s2 = await setup(async () => ok('second life'), {}, s1.dir);
    expect(await s2.runner.get(job.id, 'key_a')).toMatchObject({ status: 'queued', attempts: 0 });
    await s2.runner.start();
    expect(await finished(s2.runner, job.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('bounds what it takes: queue full, request too large, webhook not allowed', async () => {
    const { runner } = await setup(async () => ok(), { maxQueued: 2, maxRequestBytes: 2_000 });
    // Not started: nothing is claimed, so the queue fills.
    await runner.submit('key_a', undefined, chatBody());
    await runner.submit('key_b', undefined, chatBody());
    await expect(runner.submit('key_a', undefined, chatBody())).rejects.toBeInstanceOf(JobQueueFullError);
    await expect(runner.submit('key_a', undefined, chatBody('x'.repeat(3_000)))).rejects.toBeInstanceOf(JobRequestTooLargeError);
    await expect(runner.submit('key_a', undefined, chatBody(), { webhookUrl: 'https://hooks.example.com/x' })).rejects.toThrow(/not configured/);
  });

  it('a job belongs to its key: another key sees nothing and cancels nothing', async () => {
    const { runner } = await setup(async () => ok());
    const job = await runner.submit('key_a', undefined, chatBody());
    expect(await runner.get(job.id, 'key_b')).toBeUndefined();
    expect(await runner.cancel(job.id, 'key_b')).toBeUndefined();
    expect((await runner.get(job.id, 'key_a'))?.status).toBe('queued');
  });

  it('checks the webhook against the allow-list at submit and calls it once the job ends', async () => {
    const calls: Array<{ url: string; body: unknown }> = [];
    const webhook = createJobWebhook({
      allow: ['https://hooks.example.com/router/'],
      secret: 'a-secret-of-sixteen+',
      timeoutMs: 1_000,
      logger: recordingLogger(),
      fetch: (async (url: string, init: RequestInit) => {
        calls.push({ url, body: JSON.parse(String(init.body)) });
        return new Response(null, { status: 204 });
      }) as typeof fetch,
    });
    const { runner } = await setup(async (job) => ((job.request as { model: string }).model === 'bad' ? err(400, 'invalid_value') : ok('hooked')), { webhook });
    await expect(runner.submit('key_a', undefined, chatBody(), { webhookUrl: 'https://evil.example.com/router/x' })).rejects.toBeInstanceOf(JobWebhookNotAllowedError);
    await runner.start();
    const good = await runner.submit('key_a', undefined, chatBody(), { webhookUrl: 'https://hooks.example.com/router/done?t=1' });
    const bad = await runner.submit('key_a', undefined, { ...chatBody(), model: 'bad' }, { webhookUrl: 'https://hooks.example.com/router/bad' });
    const plain = await runner.submit('key_a', undefined, chatBody());
    await finished(runner, good.id);
    await finished(runner, bad.id);
    await finished(runner, plain.id);
    await runner.idle();
    expect(calls).toHaveLength(2);
    expect(calls.find((c) => c.url.endsWith('done?t=1'))?.body).toMatchObject({ id: good.id, object: 'job', status: 'succeeded', result: { object: 'chat.completion' } });
    expect(calls.find((c) => c.url.endsWith('/bad'))?.body).toMatchObject({ id: bad.id, status: 'failed', error: { code: 'invalid_value', status: 400 } });
  });

  it('a slow execute that ignores its signal does not hold close() past closeTimeoutMs', async () => {
    const { runner, store, logger } = await setup(() => new Promise(() => undefined), { closeTimeoutMs: 100 });
    await runner.start();
    const job = await runner.submit('key_a', undefined, chatBody());
    await waitFor(() => runner.stats().running === 1, 2_000, 'run');
    const t = Date.now();
    await runner.close();
    expect(Date.now() - t).toBeLessThan(1_000);
    expect(logger.lines.some((l) => l.msg?.includes('did not stop in time'))).toBe(true);
    // Still leased to this (now stopped) runner: the next process's reap takes it up.
    expect((await store.get(job.id))?.status).toBe('running');
  });

  it('rides out one failed heartbeat, but stops a run whose lease it cannot renew, before the lease could run out', async () => {
    const dir = path.join(root, `t${n++}`);
    const store = await FileJobStore.open({ dir, resultTtlMs: 60_000, leaseMs: 300 });
    cleanups.push(() => store.close());
    let failures = 1;
    const flaky = withRenew(store, async (...args) => {
      if (failures-- > 0) throw new StateUnavailableError('blip');
      return store.renew(...args);
    });
    const runner = createJobRunner({ store: flaky, concurrency: 1, maxQueued: 10, leaseMs: 300, maxAttempts: 2, logger: recordingLogger(), instanceId: 'blip', pollMs: 20,
      execute: async (_job, signal) => {
        await sleep(450);
        return signal.aborted ? { status: 499, body: {} } : ok('survived');
      },
    });
    cleanups.push(() => runner.close());
    await runner.start();
    const job = await runner.submit('key_a', undefined, chatBody());
    expect(await finished(runner, job.id)).toMatchObject({ status: 'succeeded', attempts: 1 });

    failures = Infinity;
    const stopped = deferred<{ reason: unknown; afterMs: number }>();
    const t0 = Date.now();
    const dead = createJobRunner({ store: flaky, concurrency: 1, maxQueued: 10, leaseMs: 300, maxAttempts: 2, logger: recordingLogger(), instanceId: 'cut-off', pollMs: 20,
      execute: async (_job, signal) => {
        await new Promise((r) => signal.addEventListener('abort', r));
        stopped.resolve({ reason: signal.reason, afterMs: Date.now() - t0 });
        return ok('never stored');
      },
    });
    cleanups.push(() => dead.close());
    await runner.close();
    const second = await dead.submit('key_a', undefined, chatBody());
    await dead.start();
    const stop = await stopped.promise;
    expect((stop.reason as JobAbortError).reason).toBe('lease_lost');
    expect(stop.afterMs).toBeLessThan(300 + 100); // the lease (from the claim) had not run out yet, give or take a poll
    await dead.idle();
    // Nothing written after the lease was lost: the job is still leased as claimed, for the reaper.
    expect(await store.get(second.id)).toMatchObject({ status: 'running', lease: { owner: 'cut-off' } });
  });
});
