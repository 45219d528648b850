import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';
import { deletePrefix, runPrefix, TEST_REDIS_URL } from '../unit/state/redis-test-support.js';

/** The response cache through the real app and the openai SDK, on both state backends. */
describe.each(['memory', 'redis'] as const)('the response cache (%s backend)', (backend) => {
  let up: FakeUpstream;
  let h: RouterHarness;
  let a: OpenAI;
  let b: OpenAI;
  const prefix = runPrefix('cache-it');

  beforeAll(async () => {
    up = await startFakeUpstream();
    h = await startRouter(`
auth: { keys: [key-a, key-b], adminKeys: [admin] }
${backend === 'redis' ? `state: { backend: redis, redis: { url: "${TEST_REDIS_URL}", keyPrefix: "${prefix}" } }` : ''}
providers:
  up: { kind: openai, apiKeys: [sk-up], baseURL: "${up.url}/v1", timeoutMs: 3000 }
routes:
  chat:
    targets: [{ provider: up, model: gpt-4o-mini }]
    retry: { attempts: 1 }
    breaker: { minRequests: 1000 }
    cache: { ttlMs: 60000, maxStaleMs: 600000 }
  short:
    targets: [{ provider: up, model: gpt-4o-mini }]
    retry: { attempts: 1 }
    breaker: { minRequests: 1000 }
    cache: { ttlMs: 200, maxStaleMs: 600000 }
  sampled:
    targets: [{ provider: up, model: gpt-4o-mini }]
    cache: { ttlMs: 60000, cacheTemperature: true }
  nocache:
    targets: [{ provider: up, model: gpt-4o-mini }]
`);
    a = new OpenAI({ baseURL: h.baseURL, apiKey: 'key-a', maxRetries: 0 });
    b = new OpenAI({ baseURL: h.baseURL, apiKey: 'key-b', maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    if (backend === 'redis') await deletePrefix(TEST_REDIS_URL, prefix);
  });
  beforeEach(() => up.reset());

  let n = 0;
  /** A question no other test asked (the cache lives across tests). */
  const fresh = () => `question ${backend} ${++n} ${Date.now()}`;
  const ask = (client: OpenAI, content: string, extra: Record<string, unknown> = {}, model = 'chat') =>
    client.chat.completions.create({ model, temperature: 0, messages: [{ role: 'user', content }], ...extra } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).withResponse();

  it('answers the same request from the cache, at no cost, and says so', async () => {
    const q = fresh();
    const first = await ask(a, q);
    expect(first.response.headers.get('x-router-cache')).toBe('miss');
    const second = await ask(a, q);
    expect(second.response.headers.get('x-router-cache')).toBe('hit');
    expect(second.response.headers.get('x-router-cost-usd')).toBe('0');
    expect(second.data.choices[0]!.message.content).toBe(first.data.choices[0]!.message.content);
    expect(up.chatRequests()).toHaveLength(1);
  });

  it('replays a cached answer as a well-formed stream (usage when asked), and a streamed answer is cached', async () => {
    const q = fresh();
    await ask(a, q);
    const stream = await a.chat.completions.create({ model: 'chat', temperature: 0, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: q }] });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      usage = c.usage ?? usage;
    }
    expect(text).toBe(`echo: ${q}`);
    expect(finish).toBe('stop');
    expect(usage?.total_tokens).toBeGreaterThan(0);
    expect(up.chatRequests()).toHaveLength(1);
    // Streamed first, then asked again (non-streamed): one upstream call.
    const q2 = fresh();
    for await (const _ of await a.chat.completions.create({ model: 'chat', temperature: 0, stream: true, messages: [{ role: 'user', content: q2 }] })) void _;
    const again = await ask(a, q2);
    expect(again.response.headers.get('x-router-cache')).toBe('hit');
    expect(again.data.choices[0]!.message.content).toBe(`echo: ${q2}`);
  });

  it('keeps answers to each key (never shared across tenants by default)', async () => {
    const q = fresh();
    await ask(a, q);
    const other = await ask(b, q);
    expect(other.response.headers.get('x-router-cache')).toBe('miss');
    expect(up.chatRequests()).toHaveLength(2);
  });

  it('stores no errors, no interrupted streams, no truncated answers', async () => {
    const q = fresh();
    up.script({ status: 500 });
    await expect(ask(a, q)).rejects.toBeInstanceOf(APIError);
    expect((await ask(a, q)).response.headers.get('x-router-cache')).toBe('miss');
    const q2 = fresh();
    up.script({ cutAfterChunks: 3 });
    const broken = await a.chat.completions.create({ model: 'chat', temperature: 0, stream: true, messages: [{ role: 'user', content: q2 }] });
    await expect((async () => {
      for await (const _ of broken) void _;
    })()).rejects.toThrow();
    expect((await ask(a, q2)).response.headers.get('x-router-cache')).toBe('miss');
    const q3 = fresh();
    up.script({ body: { id: 'x', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'cut' }, finish_reason: 'length' }] }, status: 200 });
    await ask(a, q3);
    expect((await ask(a, q3)).response.headers.get('x-router-cache')).toBe('miss');
  });

  it('honours Cache-Control: no-cache (no read) and no-store (no write)', async () => {
    const q = fresh();
    await a.chat.completions.create({ model: 'chat', temperature: 0, messages: [{ role: 'user', content: q }] }, { headers: { 'cache-control': 'no-store' } });
    expect((await ask(a, q)).response.headers.get('x-router-cache')).toBe('miss');
    const bypass = await a.chat.completions.create({ model: 'chat', temperature: 0, messages: [{ role: 'user', content: q }] }, { headers: { 'cache-control': 'no-cache' } }).withResponse();
    expect(bypass.response.headers.get('x-router-cache')).toBe('bypass');
    expect(up.chatRequests()).toHaveLength(3);
  });

  it('caches sampled requests only where the route allows, and not at all without a cache', async () => {
    const q = fresh();
    await ask(a, q, { temperature: 0.7 });
    expect((await ask(a, q, { temperature: 0.7 })).response.headers.get('x-router-cache')).toBeNull();
    await ask(a, q, { temperature: 0.7 }, 'sampled');
    expect((await ask(a, q, { temperature: 0.7 }, 'sampled')).response.headers.get('x-router-cache')).toBe('hit');
    expect((await ask(a, q, {}, 'nocache')).response.headers.get('x-router-cache')).toBeNull();
  });

  it('coalesces 10 identical concurrent requests into one upstream call (streams too)', async () => {
    const q = fresh();
    up.scriptAlways(() => ({ delayMs: 300 }));
    try {
      const answers = await Promise.all(Array.from({ length: 10 }, () => ask(a, q)));
      expect(up.chatRequests()).toHaveLength(1);
      expect(new Set(answers.map((r) => r.data.choices[0]!.message.content))).toEqual(new Set([`echo: ${q}`]));
      expect(answers.filter((r) => r.response.headers.get('x-router-coalesced') === 'true')).toHaveLength(9);
      up.reset();
      up.scriptAlways(() => ({ delayMs: 300 }));
      const q2 = fresh();
      const texts = await Promise.all(
        Array.from({ length: 5 }, async () => {
          let t = '';
          for await (const c of await a.chat.completions.create({ model: 'chat', temperature: 0, stream: true, messages: [{ role: 'user', content: q2 }] })) t += c.choices[0]?.delta.content ?? '';
          return t;
        }),
      );
      expect(up.chatRequests()).toHaveLength(1);
      expect(new Set(texts)).toEqual(new Set([`echo: ${q2}`]));
    } finally {
      up.scriptAlways(undefined);
    }
  });

  it('serves a stale answer, marked, when every target is down', async () => {
    const q = fresh();
    await ask(a, q, {}, 'short');
    await new Promise((r) => setTimeout(r, 300));
    await up.down();
    try {
      const stale = await ask(a, q, {}, 'short');
      expect(stale.response.headers.get('x-router-cache')).toBe('stale');
      expect(stale.response.headers.get('x-router-degraded')).toBe('stale-cache');
      expect(stale.data.choices[0]!.message.content).toBe(`echo: ${q}`);
      // Nothing cached for this one: the failure stands.
      await expect(ask(a, fresh(), {}, 'short')).rejects.toMatchObject({ status: 502 });
    } finally {
      await up.up();
    }
  });

  it('counts hits and what they saved in metrics', async () => {
    const q = fresh();
    await ask(a, q);
    await ask(a, q);
    const text = await (await fetch(`${h.url}/metrics`, { headers: { authorization: 'Bearer admin' } })).text();
    expect(text).toMatch(/llm_router_cache_lookups_total\{route="chat",result="hit"\} \d+/);
    expect(text).toMatch(/llm_router_cache_tokens_saved_total\{route="chat",type="completion"\} \d+/);
  });
});
