import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fixtures/fake-provider.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/** Whatever a client sends, the answer is an OpenAI-shaped 4xx and the router keeps serving. */
describe('hostile and malformed input', () => {
  let h: RouterHarness;
  beforeAll(async () => {
    h = await startRouter(
      `
providers: { a: { kind: openai, apiKeys: [k] } }
routes: { chat: { targets: [{ provider: a, model: m }] } }
`,
      { providers: { a: new FakeProvider('a') } },
    );
  });
  afterAll(() => h.close());

  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const bodies: Array<[string, string | Buffer]> = [
    ['empty body', ''],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"hello"'],
    ['deeply nested arrays', deep(5000)],
    ['deeply nested messages', JSON.stringify({ model: 'chat', messages: JSON.parse(deep(2000)) })],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x6d, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
    ['model is an object', JSON.stringify({ model: { $ne: 1 }, messages: [{ role: 'user', content: 'x' }] })],
    ['messages is a string', JSON.stringify({ model: 'chat', messages: 'hi' })],
    ['content is a number', JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 5 }] })],
    ['content part without type', JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: [{ text: 'x' }] }] })],
    ['huge max_tokens', JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }], max_tokens: 1e308 })],
    ['NaN-like temperature', '{"model":"chat","messages":[{"role":"user","content":"x"}],"temperature":"NaN"}'],
    ['tools not an array', JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }], tools: { type: 'function' } })],
    ['tool name with spaces', JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'rm -rf /' } }] })],
    ['stream not boolean', JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }], stream: 'yes' })],
    ['response_format unknown type', JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'xml' } })],
    ['trailing garbage', '{"model":"chat","messages":[]} trailing'],
  ];

  it.each(bodies)('%s → a 4xx in OpenAI shape', async (_name, body) => {
    const res = await request(h.app).post('/v1/chat/completions').set('content-type', 'application/json').send(body);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.error).toMatchObject({ message: expect.any(String), type: expect.any(String) });
  });

  it('treats __proto__ and constructor keys as plain data', async () => {
    const body = '{"model":"chat","messages":[{"role":"user","content":"x"}],"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}';
    const res = await request(h.app).post('/v1/chat/completions').set('content-type', 'application/json').send(body);
    expect(res.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts JSON sent with another content type (curl -d defaults to form encoding)', async () => {
    const res = await request(h.app).post('/v1/chat/completions').set('content-type', 'application/x-www-form-urlencoded').send('{"model":"chat","messages":[{"role":"user","content":"x"}]}');
    expect(res.status).toBe(200);
  });

  it('answers a wrong method on a known path with 404 in OpenAI shape', async () => {
    const res = await request(h.app).get('/v1/chat/completions');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('unknown_url');
  });

  it('ignores a request id that could inject into logs or headers', async () => {
    const res = await request(h.app).get('/healthz').set('x-request-id', 'abc def\tinjected');
    expect(res.headers['x-request-id']).not.toContain('injected');
  });

  it('still serves after all of it', async () => {
    const res = await request(h.app).post('/v1/chat/completions').send({ model: 'chat', messages: [{ role: 'user', content: 'x' }] });
    expect(res.status).toBe(200);
  });
});
