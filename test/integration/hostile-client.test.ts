import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/**
 * Client input that used to hurt the router: prototype-member route names (500), deep nesting
 * that opened a healthy target's breaker, quadratic token counting that blocked /healthz, and
 * cost amplification through n and max_tokens.
 */
describe('hostile clients against a real upstream', () => {
  let up: FakeUpstream;
  let h: RouterHarness;
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const user = [{ role: 'user', content: 'hi' }];

  beforeAll(async () => {
    up = await startFakeUpstream();
    h = await startRouter(
      `
providers:
  a: { kind: openai, apiKeys: [sk-test-a], baseURL: "${up.url}/v1", contextLength: { m: 2000 } }
routes:
  chat:
    targets: [{ provider: a, model: m }]
    breaker: { minRequests: 2, errorPercent: 10 }
    caps: { maxTokens: 1000, maxN: 4 }
  clamped:
    targets: [{ provider: a, model: big }]
    caps: { maxTokens: 100, maxN: 2, onExceed: clamp }
`,
    );
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
  });

  it.each(['toString', 'valueOf', '__defineGetter__', 'constructor', '__proto__', 'hasOwnProperty', 'isPrototypeOf'])(
    'route name %s is an unknown model (404), not a crash',
    async (model) => {
      const res = await post({ model, messages: user });
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: { code: string; param: string } };
      expect(body.error).toMatchObject({ code: 'model_not_found', param: 'model' });
      const one = await fetch(`${h.baseURL}/models/${encodeURIComponent(model)}`);
      expect(one.status).toBe(404);
    },
  );

  it('deep nesting in any passthrough field is a 400 naming the field, and never moves the breaker', async () => {
    // Raw text: JSON.stringify itself overflows the stack on such values.
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    for (const field of ['metadata', 'some_unknown_field', 'logit_bias']) {
      for (let i = 0; i < 5; i++) {
        const res = await post(`{"model":"chat","messages":[{"role":"user","content":"hi"}],"${field}":${deep(10_000)}}`);
        expect(res.status).toBe(400);
        const body = (await res.json()) as { error: { param: string; message: string } };
        expect(body.error.param).toBe(field);
        expect(body.error.message).toMatch(/nested deeper than/);
      }
    }
    // Nesting inside modelled fields too (a message's content parts).
    const res = await post(`{"model":"chat","messages":[{"role":"user","content":[{"type":"text","text":"x","extra":${deep(100)}}]}]}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('messages');
    // The target is still healthy and serves.
    const ok = await post({ model: 'chat', messages: user, metadata: { a: { b: { c: 1 } } } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-router-provider')).toBe('a');
    expect(up.chatRequests().length).toBe(1);
  });

  it('a long word with a huge max_tokens is judged quickly, and /healthz answers meanwhile', async () => {
    // 12 KB with no break: the BPE on it was quadratic (12.5 s). Here it is estimated.
    const started = performance.now();
    const pending = post({ model: 'chat', messages: [{ role: 'user', content: 'a'.repeat(12_000) }], max_tokens: 900 });
    const health = await fetch(`${h.url}/healthz`);
    expect(health.status).toBe(200);
    const res = await pending;
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string; message: string } }).error.message).toMatch(/does not fit context of 2000 tokens/);
    // Generous bound: the old code took 12.5 s on this request; counting is now linear.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('n and max_tokens above the route caps are rejected naming the field', async () => {
    let res = await post({ model: 'chat', messages: user, n: 128 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('n');
    res = await post({ model: 'chat', messages: user, max_tokens: 2 ** 53 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('max_tokens');
    res = await post({ model: 'chat', messages: user, max_completion_tokens: 5000 });
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('max_completion_tokens');
  });

  it('or clamped, said in x-router-clamped, and the upstream gets the capped values', async () => {
    up.reset();
    const client = new OpenAI({ baseURL: h.baseURL, apiKey: 'unused' });
    const { response } = await client.chat.completions.create({ model: 'clamped', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5000, n: 2 }).withResponse();
    expect(response.headers.get('x-router-clamped')).toBe('max_tokens=100');
    const sent = up.chatRequests()[0]!.body as { max_tokens: number; n: number };
    expect(sent.max_tokens).toBe(100);
    expect(sent.n).toBe(2);
  });
});
