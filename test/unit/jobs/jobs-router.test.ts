import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import express from 'express';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { FileJobStore } from '../../../src/jobs/file-job-store.js';
import { createJobRunner, type JobExecute, type JobRunner } from '../../../src/jobs/job-runner.js';
import { createJobWebhook } from '../../../src/jobs/job-webhook.js';
import { createJobsRouter, createJobSubmitHandler, wantsAsync, type JobsRouterOptions } from '../../../src/jobs/jobs-router.js';
import type { Identity } from '../../../src/identity/types.js';
import { StateUnavailableError } from '../../../src/state/types.js';
import { WireValidationError } from '../../../src/wire/wire-common.js';
import { chatBody, completion, deferred, recordingLogger, waitFor } from './jobs-test-support.js';

const root = await mkdtemp(path.join(tmpdir(), 'llm-router-jobs-http-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let n = 0;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const KEYS: Record<string, Identity> = {
  'sk-a': { kind: 'key', keyId: 'key_a', team: 'red' },
  'sk-b': { kind: 'key', keyId: 'key_b' },
};

/** The app as the edge mounts it: client auth puts the identity in res.locals, /v1 holds the routes. */
function appWith(runner: JobRunner | undefined, extra: Partial<JobsRouterOptions> = {}) {
  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.use((req, res, next) => {
    const key = req.headers.authorization?.replace(/^Bearer /, '');
    if (key && KEYS[key]) res.locals.identity = KEYS[key];
    next();
  });
  const opts: JobsRouterOptions = { runner: () => runner, ...extra };
  const submit = createJobSubmitHandler(opts);
  app.post('/v1/chat/completions', (req, res, next) => (wantsAsync(req.headers) ? submit(req, res, next) : res.json(completion('sync'))));
  app.use('/v1', createJobsRouter(opts));
  return app;
}

async function setup(execute: JobExecute = async () => ({ status: 200, body: completion('async answer') }), extra: Partial<Parameters<typeof createJobRunner>[0]> = {}) {
  const store = await FileJobStore.open({ dir: path.join(root, `t${n++}`), resultTtlMs: 60_000 });
  const runner = createJobRunner({ store, concurrency: 2, maxQueued: 100, leaseMs: 3_000, maxAttempts: 2, execute, logger: recordingLogger(), instanceId: `http-${n}`, pollMs: 20, ...extra });
  cleanups.push(async () => {
    await runner.close();
    await store.close();
  });
  return { store, runner };
}

const expectOpenAIError = (body: unknown, code: string) => {
  expect(Object.keys(body as object)).toEqual(['error']);
  expect((body as { error: Record<string, unknown> }).error).toMatchObject({ code, message: expect.any(String), type: expect.any(String) });
};

describe('jobs router', () => {
  it('POST /v1/jobs answers 202 with the id and Location; GET gives status then the chat.completion', async () => {
    const gate = deferred();
    const { runner } = await setup(async (_job, _signal, progress) => {
      progress(4);
      await gate.promise;
      return { status: 200, body: completion('async answer', 9) };
    }, { progressIntervalMs: 0 });
    await runner.start();
    const app = appWith(runner);
    const res = await request(app).post('/v1/jobs').set('authorization', 'Bearer sk-a').send(chatBody());
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: expect.stringMatching(/^job_[0-9a-f]{32}$/), object: 'job', status: 'queued', created_at: expect.any(Number) });
    expect(res.headers.location).toBe(`/v1/jobs/${res.body.id}`);

    await waitFor(async () => (await request(app).get(res.headers.location!).set('authorization', 'Bearer sk-a')).body.status === 'running', 3_000, 'running');
    const running = await request(app).get(res.headers.location!).set('authorization', 'Bearer sk-a');
    expect(running.body).toMatchObject({ id: res.body.id, object: 'job', status: 'running', attempts: 1, progress: { completion_tokens: 4 } });
    expect(running.body).not.toHaveProperty('result');
    gate.resolve();

    let done: request.Response | undefined;
    await waitFor(async () => (done = await request(app).get(res.headers.location!).set('authorization', 'Bearer sk-a')).body.status === 'succeeded', 3_000, 'succeeded');
    expect(done!.status).toBe(200);
    expect(done!.body).toMatchObject({ status: 'succeeded', attempts: 1, result: { object: 'chat.completion', choices: [{ message: { content: 'async answer' } }] }, expires_at: expect.any(Number) });
    expect(Object.keys(done!.body).sort()).toEqual(['attempts', 'created_at', 'expires_at', 'id', 'object', 'progress', 'result', 'status', 'updated_at']);
  });

  it('x-router-async: true on /v1/chat/completions makes a job; without it the answer is synchronous', async () => {
    const { runner } = await setup();
    const app = appWith(runner);
    const job = await request(app).post('/v1/chat/completions').set('authorization', 'Bearer sk-a').set('x-router-async', 'true').send(chatBody());
    expect(job.status).toBe(202);
    expect(job.headers.location).toBe(`/v1/jobs/${job.body.id}`);
    const sync = await request(app).post('/v1/chat/completions').set('authorization', 'Bearer sk-a').send(chatBody());
    expect(sync.status).toBe(200);
    expect(sync.body.object).toBe('chat.completion');
  });

  it('a job belongs to its key: another key gets 404 on GET and DELETE', async () => {
    const { runner } = await setup();
    const app = appWith(runner);
    const { body } = await request(app).post('/v1/jobs').set('authorization', 'Bearer sk-a').send(chatBody());
    for (const method of ['get', 'delete'] as const) {
      const other = await request(app)[method](`/v1/jobs/${body.id}`).set('authorization', 'Bearer sk-b');
      expect(other.status).toBe(404);
      expectOpenAIError(other.body, 'job_not_found');
      const anon = await request(app)[method](`/v1/jobs/${body.id}`);
      expect(anon.status).toBe(404);
    }
    expect((await request(app).get(`/v1/jobs/${body.id}`).set('authorization', 'Bearer sk-a')).status).toBe(200);
    const odd = await request(app).get('/v1/jobs/..%2F..%2Fetc%2Fpasswd').set('authorization', 'Bearer sk-a');
    expect(odd.status).toBe(404);
    expectOpenAIError(odd.body, 'job_not_found');
  });

  it('DELETE cancels: the running call is aborted and the job reads cancelled', async () => {
    const started = deferred<AbortSignal>();
    const { runner } = await setup(async (_job, signal) => {
      started.resolve(signal);
      await new Promise((r) => signal.addEventListener('abort', r));
      return { status: 499, body: { error: { message: 'aborted', type: 'request_aborted', code: 'client_closed_request' } } };
    });
    await runner.start();
    const app = appWith(runner);
    const { body } = await request(app).post('/v1/jobs').set('authorization', 'Bearer sk-a').send(chatBody());
    const signal = await started.promise;
    const del = await request(app).delete(`/v1/jobs/${body.id}`).set('authorization', 'Bearer sk-a');
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ id: body.id, status: 'cancelled' });
    expect(signal.aborted).toBe(true);
    await runner.idle();
    const after = await request(app).get(`/v1/jobs/${body.id}`).set('authorization', 'Bearer sk-a');
    expect(after.body.status).toBe('cancelled');
    expect(after.body).not.toHaveProperty('error');
  });

  it('refuses what it cannot take, in OpenAI error JSON', async () => {
    const { runner } = await setup(undefined, { maxQueued: 1, maxRequestBytes: 4_096 }); // not started: the queue fills
    const webhook = createJobWebhook({ allow: ['https://hooks.example.com/'], secret: 'a-secret-of-sixteen+', timeoutMs: 1_000, logger: recordingLogger() });
    const app = appWith(runner, { validate: (b) => { if (typeof b.model !== 'string') throw new WireValidationError('model: required', 'model'); } });
    const post = () => request(app).post('/v1/jobs').set('authorization', 'Bearer sk-a');

    const notObject = await post().send([1, 2]);
    expect(notObject.status).toBe(400);
    expectOpenAIError(notObject.body, 'invalid_value');
    const streaming = await post().send({ ...chatBody(), stream: true });
    expect(streaming.status).toBe(400);
    expect(streaming.body.error.param).toBe('stream');
    const invalid = await post().send({ messages: [] });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatchObject({ param: 'model', code: 'invalid_value' });
    const tooBig = await post().send(chatBody('x'.repeat(5_000)));
    expect(tooBig.status).toBe(413);
    expectOpenAIError(tooBig.body, 'request_too_large');
    const badJson = await request(appWith(runner)).post('/v1/jobs').set('content-type', 'application/json').send('{"model":');
    expect(badJson.status).toBe(400);

    const hookRefused = await post().set('x-router-webhook-url', 'https://hooks.example.com/x').send(chatBody());
    expect(hookRefused.status).toBe(400);
    expect(hookRefused.body.error).toMatchObject({ code: 'webhook_not_allowed', param: 'x-router-webhook-url' });

    expect((await post().send(chatBody())).status).toBe(202);
    const full = await post().send(chatBody());
    expect(full.status).toBe(429);
    expectOpenAIError(full.body, 'job_queue_full');
    expect(full.headers['retry-after']).toBeDefined();

    // With webhooks configured, a URL outside the allow-list is still refused.
    const { runner: hooked } = await setup(undefined, { webhook });
    const refused = await request(appWith(hooked)).post('/v1/jobs').set('x-router-webhook-url', 'https://user:pw@hooks.example.com/x').send(chatBody());
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/credentials/);
    const taken = await request(appWith(hooked)).post('/v1/jobs').set('x-router-webhook-url', 'https://hooks.example.com/x').send(chatBody());
    expect(taken.status).toBe(202);
  });

  it('503 while the router starts or the job store is unreachable', async () => {
    const starting = await request(appWith(undefined)).get('/v1/jobs/job_00000000000000000000000000000000');
    expect(starting.status).toBe(503);
    expectOpenAIError(starting.body, 'starting');

    const down = new StateUnavailableError('Redis job get: not connected');
    const broken: JobRunner = {
      submit: async () => { throw down; },
      get: async () => { throw down; },
      cancel: async () => { throw down; },
      start: async () => undefined,
      close: async () => undefined,
      idle: async () => undefined,
      stats: () => ({ running: 0, webhooksInFlight: 0, started: true, closing: false }),
    };
    const app = appWith(broken);
    for (const res of [
      await request(app).post('/v1/jobs').send(chatBody()),
      await request(app).get('/v1/jobs/job_00000000000000000000000000000000'),
      await request(app).delete('/v1/jobs/job_00000000000000000000000000000000'),
    ]) {
      expect(res.status).toBe(503);
      expectOpenAIError(res.body, 'state_unavailable');
      expect(res.body.error.message).not.toContain('Redis'); // internals stay in the log
    }
  });
});
