import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LlamaCppProvider } from '../../providers/llama-cpp/index.js';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { createLlamaEnv, type LlamaEnv } from '../fixtures/llama-env.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

const messages = [{ role: 'user' as const, content: 'Hello, who are you?' }];

describe('offline, on the shipped config/router.yaml with no keys', () => {
  let h: RouterHarness;
  let client: OpenAI;
  beforeAll(async () => {
    // Exactly what `npm start` reads, with an empty environment: no keys, no network.
    h = await startRouter(readFileSync('config/router.yaml', 'utf8'), { env: {} });
    client = new OpenAI({ baseURL: h.baseURL, apiKey: 'unused', maxRetries: 0 });
  }, 60_000);
  afterAll(() => h.close());

  it('answers the default route from the local model', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'chat', messages, temperature: 0 }).withResponse();
    expect(response.headers.get('x-router-provider')).toBe('local');
    expect(data.model).toBe('tiny');
    expect(data.choices[0]!.message.content).toMatch(/[a-z]+ [a-z]+/i);
    expect(data.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(data.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('streams from the local model with usage', async () => {
    const stream = await client.chat.completions.create({ model: 'local', messages, stream: true, stream_options: { include_usage: true }, max_tokens: 30 });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      usage = c.usage ?? usage;
    }
    expect(text.trim().length).toBeGreaterThan(0);
    expect(['stop', 'length']).toContain(finish);
    expect(usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('returns schema-valid JSON from the local model', async () => {
    const r = await client.chat.completions.create({
      model: 'local',
      messages,
      max_tokens: 120,
      response_format: { type: 'json_schema', json_schema: { name: 'who', schema: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name', 'age'] } } },
    });
    const parsed = JSON.parse(r.choices[0]!.message.content!) as { name: unknown; age: unknown };
    expect(typeof parsed.name).toBe('string');
    expect(Number.isInteger(parsed.age)).toBe(true);
  });

  it('is deterministic at temperature 0 with a seed', async () => {
    const ask = () => client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'Tell me about the weather.' }], temperature: 0, seed: 1, max_tokens: 40 });
    const [a, b] = [await ask(), await ask()];
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
  });

  it('compacts a history longer than the local context instead of skipping the model', async () => {
    const turn = 'The weather is nice today and the router sends each request to a model. '.repeat(12);
    const history = Array.from({ length: 40 }, (_, i) => ({ role: (i % 2 ? 'assistant' : 'user') as 'user' | 'assistant', content: `${i}: ${turn}` }));
    const { data, response } = await client.chat.completions
      .create({ model: 'chat', messages: [{ role: 'system', content: 'Be brief.' }, ...history, { role: 'user', content: 'And now?' }], max_tokens: 20 })
      .withResponse();
    expect(response.headers.get('x-router-provider')).toBe('local');
    expect(response.headers.get('x-router-compacted')).toMatch(/^\d+ messages$/);
    expect(data.choices[0]!.message.content!.length).toBeGreaterThan(0);
  });

  it('refuses tools on a local-only route rather than answering wrongly', async () => {
    const err = (await client.chat.completions
      .create({ model: 'local', messages, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] })
      .catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(400);
    expect(err.message).toContain('tools not supported');
  });
});

describe('a broken local runtime never takes the router down', () => {
  let env: LlamaEnv;
  let upstream: FakeUpstream;
  let h: RouterHarness;
  let client: OpenAI;
  let local: LlamaCppProvider;

  beforeAll(async () => {
    env = await createLlamaEnv();
    await writeFile(join(env.dir, 'corrupt.gguf'), Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(4096, 7)]));
    await env.writeRegistry({ tiny: { file: 'tiny.gguf' }, broken: { file: 'corrupt.gguf' } });
    upstream = await startFakeUpstream();
    local = env.provider();
    h = await startRouter(
      `
providers:
  local: { kind: llama-cpp, model: tiny }
  cloud: { kind: openai, apiKeys: [k], baseURL: "${upstream.url}/v1" }
routes:
  broken: { targets: [{ provider: local, model: broken }] }
  tiny:   { targets: [{ provider: local, model: tiny }] }
  local-first:
    targets: [{ provider: local, model: tiny }, { provider: cloud, model: gpt-4o-mini }]
    breaker: { minRequests: 100 }
  private-chat:
    targets: [{ provider: cloud, model: gpt-4o-mini }, { provider: local, model: tiny }]
    safety: private
safety:
  policies:
    private: { privacy: { kinds: [cn_id, email], allow: [local] } }
`,
      { providers: { local } },
    );
    client = new OpenAI({ baseURL: h.baseURL, apiKey: 'unused', maxRetries: 0 });
  }, 60_000);
  afterAll(async () => {
    await h.close();
    await upstream.close();
    await env.cleanup();
  });

  it('keeps a prompt with personal data on the in-process model (privacy routing), the cloud otherwise', async () => {
    upstream.reset();
    const ask = (content: string) => client.chat.completions.create({ model: 'private-chat', messages: [{ role: 'user', content }], max_tokens: 10 }).withResponse();
    const kept = await ask('My ID is 11010519491231002X, mail me at wang.wei@example.cn');
    expect(kept.response.headers.get('x-router-provider')).toBe('local');
    expect(kept.response.headers.get('x-router-privacy')).toBe('restricted; kinds=cn_id,email; targets=local');
    expect(kept.data.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(upstream.chatRequests()).toHaveLength(0);
    const plain = await ask('What is the weather like?');
    expect(plain.response.headers.get('x-router-provider')).toBe('cloud');
    expect(plain.response.headers.get('x-router-privacy')).toBeNull();
    expect(upstream.chatRequests()).toHaveLength(1);
  });

  it('reports a corrupt model file as an upstream error and keeps serving other routes', async () => {
    const err = (await client.chat.completions.create({ model: 'broken', messages }).catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(502);
    expect(err.message).toMatch(/corrupt\.gguf/);
    const ok = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 20 });
    expect(ok.choices[0]!.message.content!.length).toBeGreaterThan(0);
  });

  it('fails a request over when the runtime process is killed mid-request, and the runtime comes back', async () => {
    // Warm the worker so there is a process to kill.
    await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 5 });
    const pid = local.workerPid('tiny')!;
    expect(pid).toBeGreaterThan(0);
    // Freeze the worker so the request is surely inside it, then kill it.
    process.kill(pid, 'SIGSTOP');
    const call = client.chat.completions.create({ model: 'local-first', messages, max_tokens: 50 }).withResponse();
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid, 'SIGKILL');
    const { data, response } = await call;
    expect(data.choices[0]!.message.content).toBe('echo: Hello, who are you?');
    expect(response.headers.get('x-router-provider')).toBe('cloud');
    expect(response.headers.get('x-router-fallback')).toBe('local/tiny:server');

    // The runtime restarts with a new process and serves again.
    const deadline = Date.now() + 30_000;
    let answered = false;
    while (!answered && Date.now() < deadline) {
      const r = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 10 }).catch(() => undefined);
      answered = !!r?.choices[0]?.message.content;
      if (!answered) await new Promise((r) => setTimeout(r, 250));
    }
    expect(answered).toBe(true);
    expect(local.workerPid('tiny')).not.toBe(pid);
  });
});
