import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';
import { deletePrefix, runPrefix, TEST_REDIS_URL } from '../unit/state/redis-test-support.js';

type Job = { id: string; object: string; status: string; attempts?: number; result?: { object: string; choices: Array<{ message: { content: string } }> }; error?: { code: string | null } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(url: string, key: string, id: string, done: (j: Job) => boolean, ms = 15_000): Promise<Job> {
  const deadline = Date.now() + ms;
  let last: Job | undefined;
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } });
    if (res.status === 200) {
      last = (await res.json()) as Job;
      if (done(last)) return last;
    }
    await sleep(100);
  }
  throw new Error(`job ${id} did not get there: ${JSON.stringify(last)}`);
}

describe.each(['memory', 'redis'] as const)('jobs and the degradation ladder (%s backend)', (backend) => {
  let up: FakeUpstream;
  let h: RouterHarness;
  let dir: string;
  const prefix = runPrefix('jobs-it');

  beforeAll(async () => {
    up = await startFakeUpstream();
    dir = mkdtempSync(path.join(tmpdir(), 'router-rules-'));
    writeFileSync(
      path.join(dir, 'faq.yaml'),
      `rules:\n  - name: hours\n    match: { keywords: [opening hours] }\n    answer: We are open 9-17 ({{route}}).\n`,
    );
    h = await startRouter(
      `
auth: { keys: [key-a, key-b] }
${backend === 'redis' ? `state: { backend: redis, redis: { url: "${TEST_REDIS_URL}", keyPrefix: "${prefix}" } }` : ''}
jobs: { concurrency: 2, maxAttempts: 6, retryDelayMs: 100, maxRetryDelayMs: 300, leaseMs: 3000 }
providers:
  up: { kind: openai, apiKeys: [sk-up], baseURL: "${up.url}/v1", timeoutMs: 5000 }
  faq: { kind: rules, file: ${dir}/faq.yaml }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }], retry: { attempts: 1 }, breaker: { minRequests: 1000 } }
  helpdesk:
    targets: [{ provider: up, model: gpt-4o-mini }, { provider: faq, model: faq }]
    retry: { attempts: 1 }
    breaker: { minRequests: 1000 }
`,
    );
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
    if (backend === 'redis') await deletePrefix(TEST_REDIS_URL, prefix);
  });
  beforeEach(() => up.reset());

  const post = (pathname: string, key: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${h.url}${pathname}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const chatBody = (content: string, model = 'chat') => ({ model, messages: [{ role: 'user', content }] });

  it('runs a job through 202 → poll → the result in the chat completion format (x-router-async and /v1/jobs)', async () => {
    const res = await post('/v1/chat/completions', 'key-a', chatBody('job one'), { 'x-router-async': 'true' });
    expect(res.status).toBe(202);
    const created = (await res.json()) as Job;
    expect(res.headers.get('location')).toBe(`/v1/jobs/${created.id}`);
    const done = await waitFor(h.url, 'key-a', created.id, (j) => j.status === 'succeeded');
    expect(done.result?.object).toBe('chat.completion');
    expect(done.result?.choices[0]!.message.content).toBe('echo: job one');
    const viaJobs = (await (await post('/v1/jobs', 'key-a', chatBody('job two'))).json()) as Job;
    expect((await waitFor(h.url, 'key-a', viaJobs.id, (j) => j.status === 'succeeded')).result?.choices[0]!.message.content).toBe('echo: job two');
    // Another key: as if it never was.
    expect((await fetch(`${h.url}/v1/jobs/${created.id}`, { headers: { authorization: 'Bearer key-b' } })).status).toBe(404);
  });

  it('cancels a running job and aborts its upstream call', async () => {
    up.script({ delayMs: 4000 });
    const created = (await (await post('/v1/jobs', 'key-a', chatBody('slow'))).json()) as Job;
    await waitFor(h.url, 'key-a', created.id, (j) => j.status === 'running');
    const deadline = Date.now() + 5000;
    while (!up.chatRequests().length && Date.now() < deadline) await sleep(20);
    const del = await fetch(`${h.url}/v1/jobs/${created.id}`, { method: 'DELETE', headers: { authorization: 'Bearer key-a' } });
    expect(del.status).toBe(200);
    expect(((await del.json()) as Job).status).toBe('cancelled');
    while (!up.chatRequests()[0]?.clientClosed && Date.now() < deadline) await sleep(20);
    expect(up.chatRequests()[0]!.clientClosed).toBe(true);
  });

  it('with every target down: a rules answer where the chain has one, a queued job (opt-in) that completes after recovery', async () => {
    await up.down();
    try {
      const client = new OpenAI({ baseURL: h.baseURL, apiKey: 'key-a', maxRetries: 0 });
      const { data, response } = await client.chat.completions.create(chatBody('what are your opening hours?', 'helpdesk') as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).withResponse();
      expect(data.choices[0]!.message.content).toBe('We are open 9-17 (helpdesk).');
      expect(response.headers.get('x-router-degraded')).toBe('rules');
      const streamed = await client.chat.completions.create({ ...(chatBody('opening hours please', 'helpdesk') as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming), stream: true });
      let text = '';
      for await (const c of streamed) text += c.choices[0]?.delta.content ?? '';
      expect(text).toBe('We are open 9-17 (helpdesk).');
      // No opt-in: the failure stands. Opt-in: 202 and a job.
      expect((await post('/v1/chat/completions', 'key-a', chatBody('later please'))).status).toBe(502);
      const queued = await post('/v1/chat/completions', 'key-a', chatBody('later please'), { 'x-router-degrade': 'async' });
      expect(queued.status).toBe(202);
      expect(queued.headers.get('x-router-degraded')).toBe('queued');
      const job = (await queued.json()) as Job;
      await sleep(300);
      await up.up();
      const done = await waitFor(h.url, 'key-a', job.id, (j) => j.status === 'succeeded' || j.status === 'failed');
      expect(done.status).toBe('succeeded');
      expect(done.result?.choices[0]!.message.content).toBe('echo: later please');
    } finally {
      await up.up().catch(() => {});
    }
  });
});

describe('a job running when the router is killed (SIGKILL)', () => {
  let up: FakeUpstream;
  let dir: string;
  const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    up = await startFakeUpstream();
    dir = mkdtempSync(path.join(tmpdir(), 'router-jobs-kill-'));
    writeFileSync(
      path.join(dir, 'router.yaml'),
      `
server: { host: 127.0.0.1 }
state: { dataDir: ${dir}/data }
jobs: { maxAttempts: 3, leaseMs: 2000, retryDelayMs: 100 }
providers:
  up: { kind: openai, apiKeys: [sk-up], baseURL: "${up.url}/v1", timeoutMs: 20000 }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }], retry: { attempts: 1 } }
`,
    );
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(): Promise<string> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', path.join(dir, 'router.yaml'), '--port', '0'], { cwd: repo, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return new Promise((resolve, reject) => {
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        for (const line of buf.split('\n')) {
          try {
            const e = JSON.parse(line) as { msg?: string; url?: string };
            if (e.msg === 'llm-router listening') resolve(String(e.url));
          } catch {
            /* partial line */
          }
        }
      });
      child.once('exit', (code) => reject(new Error(`router exited with ${code}`)));
    });
  }

  it('is run again after the restart and finishes, never lost', async () => {
    up.script({ delayMs: 15_000 });
    const first = await start();
    const created = (await (await fetch(`${first}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'survive' }] }) })).json()) as Job;
    await waitFor(first, 'unused', created.id, (j) => j.status === 'running');
    const deadline = Date.now() + 5000;
    while (!up.chatRequests().length && Date.now() < deadline) await sleep(20);
    children[0]!.kill('SIGKILL');
    await new Promise((r) => children[0]!.once('exit', r));
    const second = await start();
    const done = await waitFor(second, 'unused', created.id, (j) => j.status === 'succeeded' || j.status === 'failed', 30_000);
    expect(done.status).toBe('succeeded');
    expect(done.attempts).toBe(2);
    expect(done.result?.choices[0]!.message.content).toBe('echo: survive');
  }, 90_000);
});
