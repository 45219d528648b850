import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fixtures/fake-provider.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';
import { pino } from 'pino';
import { presentedKey } from '../../src/edge/auth.js';

const ADMIN = 'admin-key-edge';
const YAML = `
server: { bodyLimit: 2kb }
auth: { adminKeys: [${ADMIN}] }
providers:
  a: { kind: openai, apiKeys: [k] }
  b: { kind: openai, apiKeys: [k] }
  gone: { kind: openai, apiKeys: ["\${UNSET_KEY}"] }
routes:
  chat: { targets: [{ provider: a, model: m-a }, { provider: b, model: m-b }], breaker: { minRequests: 1000 } }
  solo: { targets: [{ provider: a, model: m-a }] }
  dead: { targets: [{ provider: gone, model: x }] }
`;

/** Parses an SSE body into its data payloads. */
function sse(text: string): string[] {
  return text.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
}

describe('HTTP edge', () => {
  let h: RouterHarness;
  const a = new FakeProvider('a');
  const b = new FakeProvider('b', { ok: 'from b' });
  beforeAll(async () => {
    h = await startRouter(YAML, { providers: { a, b } });
  });
  afterAll(() => h.close());

  const chat = (body: unknown) => request(h.app).post('/v1/chat/completions').send(body as object);
  const msg = [{ role: 'user', content: 'hi' }];

  it('answers in OpenAI format with router headers', async () => {
    const res = await chat({ model: 'chat', messages: msg }).set('x-request-id', 'abc-123');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ object: 'chat.completion', model: 'm-a-real', choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }] });
    expect(res.body.id).toMatch(/^chatcmpl-/);
    expect(res.body.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
    expect(res.headers['x-router-provider']).toBe('a');
    expect(res.headers['x-router-model']).toBe('m-a');
    expect(res.headers['x-request-id']).toBe('abc-123');
    expect(Number(res.headers['x-router-overhead-ms'])).toBeGreaterThanOrEqual(0);
    expect(res.headers['x-router-fallback']).toBeUndefined();
  });

  it('makes a request id when none is sent', async () => {
    const res = await chat({ model: 'chat', messages: msg });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('says where it fell back from', async () => {
    a.script({ fail: 'server' });
    const res = await chat({ model: 'chat', messages: msg });
    expect(res.status).toBe(200);
    expect(res.headers['x-router-provider']).toBe('b');
    expect(res.headers['x-router-fallback']).toBe('a/m-a:server');
    expect(res.headers['x-router-attempts']).toBe('2; targets=2');
  });

  it('streams with OpenAI framing: role first, one finish, usage only when asked, [DONE]', async () => {
    a.script({ stream: ['Hel', 'lo'] });
    const res = await chat({ model: 'chat', messages: msg, stream: true });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = sse(res.text);
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: 'Hel' });
    expect(chunks.every((c: { object: string }) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.filter((c: { choices: Array<{ finish_reason: string | null }> }) => c.choices[0]?.finish_reason).length).toBe(1);
    expect(chunks.some((c: { usage?: unknown }) => c.usage)).toBe(false);

    a.script({ stream: ['x'] });
    const withUsage = sse((await chat({ model: 'chat', messages: msg, stream: true, stream_options: { include_usage: true } })).text);
    const last = JSON.parse(withUsage.at(-2)!);
    expect(last.choices).toEqual([]);
    // cost_usd: the model has no price, so its cost is unknown (null), never 0.
    expect(last.usage).toEqual({ prompt_tokens: 3, completion_tokens: 1, total_tokens: 4, cost_usd: null });
  });

  it('ends a stream that fails after its first byte with an error event, never silently', async () => {
    a.script({ stream: ['partial'], fail: 'network' });
    const res = await chat({ model: 'chat', messages: msg, stream: true });
    const events = sse(res.text);
    expect(events.at(-1)).toBe('[DONE]');
    const err = JSON.parse(events.at(-2)!);
    expect(err.error.code).toBe('stream_interrupted');
    expect(err.error.message).toContain('a:');
  });

  it.each([
    ['invalid JSON', '{"model": ', 400, 'invalid_json'],
  ])('%s → %i', async (_name, body, status, code) => {
    const res = await request(h.app).post('/v1/chat/completions').set('content-type', 'application/json').send(body);
    expect(res.status).toBe(status);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code });
  });

  it.each([
    [{ model: 'chat', messages: msg, temperature: 3 }, 'temperature'],
    [{ model: 'chat', messages: msg, top_p: -1 }, 'top_p'],
    [{ model: 'chat', messages: msg, n: 0 }, 'n'],
    [{ model: 'chat', messages: msg, max_tokens: 0 }, 'max_tokens'],
    [{ model: 'chat', messages: [] }, 'messages'],
    [{ model: 'chat', messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
    [{ model: 'chat', messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
    [{ messages: msg }, 'model'],
    [{ model: 'chat', messages: msg, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
  ])('rejects %j naming param %s', async (body, param) => {
    const res = await chat(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
    expect(res.body.error.message).toContain(param.split('.')[0]!.split('[')[0]!);
  });

  it('rejects a non-object body', async () => {
    const res = await request(h.app).post('/v1/chat/completions').set('content-type', 'application/json').send('[1,2]');
    expect(res.status).toBe(400);
  });

  it('404s an unknown route with param model', async () => {
    const res = await chat({ model: 'gpt-5', messages: msg });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ param: 'model', code: 'model_not_found' });
  });

  it('413s a body over the limit', async () => {
    const res = await chat({ model: 'chat', messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('request_too_large');
  });

  it('404s an unknown path in OpenAI shape', async () => {
    const res = await request(h.app).get('/v1/nothing');
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'unknown_url' });
  });

  it.each([
    ['server', 502],
    ['network', 502],
    ['timeout', 504],
    ['rate_limit', 429],
    ['auth', 502],
  ] as const)('maps an upstream %s to %i naming the provider', async (kind, status) => {
    a.script({ fail: kind, ...(kind === 'rate_limit' ? { retryAfterMs: 2000 } : {}) });
    const res = await chat({ model: 'solo', messages: msg });
    expect(res.status).toBe(status);
    expect(res.body.error.message).toContain('a:');
    if (kind === 'rate_limit') expect(res.headers['retry-after']).toBe('2');
  });

  it('503s a route whose providers are all disabled, saying why', async () => {
    const res = await chat({ model: 'dead', messages: msg });
    expect(res.status).toBe(503);
    expect(res.body.error.message).toContain('UNSET_KEY');
  });

  it('lists routes as models', async () => {
    const res = await request(h.app).get('/v1/models');
    expect(res.body.object).toBe('list');
    expect(res.body.data.map((m: { id: string }) => m.id)).toEqual(['chat', 'solo', 'dead']);
    expect((await request(h.app).get('/v1/models/chat')).body).toMatchObject({ id: 'chat', object: 'model' });
    expect((await request(h.app).get('/v1/models/nope')).status).toBe(404);
  });

  it('reports liveness, readiness and metrics; details only with the admin key', async () => {
    expect((await request(h.app).get('/healthz')).body).toEqual({ status: 'ok' });
    // Without the admin key: ready or not, nothing about providers, variables or routes.
    const short = await request(h.app).get('/readyz');
    expect(short.status).toBe(200);
    expect(short.body).toEqual({ status: 'ready' });
    expect((await request(h.app).get('/readyz').set('authorization', 'Bearer not-the-key')).body).toEqual({ status: 'ready' });
    const ready = await request(h.app).get('/readyz').set('authorization', `Bearer ${ADMIN}`);
    expect(ready.status).toBe(200);
    expect(ready.body.disabled).toEqual({ gone: 'environment variable UNSET_KEY is not set' });
    expect(ready.body.providers).toEqual(['a', 'b']);
    // Metrics need the admin key on the main listener.
    const refused = await request(h.app).get('/metrics');
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('invalid_api_key');
    expect(refused.text).not.toContain('llm_router');
    const metrics = (await request(h.app).get('/metrics').set('authorization', `Bearer ${ADMIN}`)).text;
    expect(metrics).toMatch(/llm_router_requests_total\{route="chat",provider="a",outcome="ok",stream="false"\} \d+/);
    expect(metrics).toContain('llm_router_overhead_seconds_bucket');
    expect(metrics).toContain('llm_router_fallbacks_total{route="chat",from="a/m-a",to="b/m-b",kind="server"} 1');
  });
});

describe('client keys', () => {
  let h: RouterHarness;
  beforeAll(async () => {
    h = await startRouter(`
auth: { keys: ["\${APP_KEY}"] }
providers: { a: { kind: openai, apiKeys: [k] } }
routes: { chat: { targets: [{ provider: a, model: m }] } }
`, { providers: { a: new FakeProvider('a') }, env: { APP_KEY: 'secret-app-key' } });
  });
  afterAll(() => h.close());

  it('requires a valid bearer key on /v1 and never echoes it', async () => {
    const none = await request(h.app).get('/v1/models');
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('invalid_api_key');
    const wrong = await request(h.app).get('/v1/models').set('authorization', 'Bearer nope-key');
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(wrong.body)).not.toContain('nope-key');
    const ok = await request(h.app).get('/v1/models').set('authorization', 'Bearer secret-app-key');
    expect(ok.status).toBe(200);
    expect((await request(h.app).get('/healthz')).status).toBe(200);
  });

  it('never takes an empty or blank header for a key', async () => {
    for (const [name, value] of [['api-key', ''], ['api-key', '   '], ['authorization', 'Bearer '], ['authorization', 'Bearer'], ['authorization', 'Bearer    ']] as const) {
      const res = await request(h.app).get('/v1/models').set(name, value);
      expect(res.status, `${name}: "${value}"`).toBe(401);
      expect(res.body.error.message).toContain('did not provide');
    }
    // An empty Authorization does not hide a good api-key.
    expect((await request(h.app).get('/v1/models').set('authorization', 'Bearer ').set('api-key', 'secret-app-key')).status).toBe(200);
    expect(presentedKey({ authorization: 'Bearer  k1 ' })).toBe('k1');
    expect(presentedKey({ 'api-key': '' })).toBeUndefined();
    expect(presentedKey({ authorization: 'Bearer \t' })).toBeUndefined();
  });

  it('closes the connection of a refused (401) request', async () => {
    const res = await request(h.app).get('/v1/models');
    expect(res.status).toBe(401);
    expect(res.headers.connection).toBe('close');
  });
});

describe('client auth across reloads', () => {
  const KEYS = { APP_KEY: 'reload-app-key', APP_KEY_2: 'reload-app-key-2' };
  const yaml = (keys: string) => `
auth: { keys: ${keys}, adminKeys: [adm] }
providers: { a: { kind: openai, apiKeys: [k] } }
routes: { chat: { targets: [{ provider: a, model: m }] } }
`;
  const lines: string[] = [];
  let h: RouterHarness;
  beforeAll(async () => {
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    // Beyond loopback: client auth must never switch off here.
    h = await startRouter(yaml('["${APP_KEY}"]'), { providers: { a: new FakeProvider('a') }, env: KEYS, host: '0.0.0.0', logger });
  });
  afterAll(() => h.close());
  const reloads = async (result: string) => (await h.metrics.registry.getSingleMetric('llm_router_config_reloads_total')!.get()).values.find((v) => v.labels.result === result)?.value ?? 0;

  it.each([['a typo in the variable name', '["${TYPO}"]'], ['an empty list', '[]'], ['a blank key', '[""]']])('refuses a reload that would leave /v1 open: %s', async (_name, keys) => {
    const before = await reloads('rejected');
    expect(h.reload(yaml(keys))).toBe(false);
    expect(await reloads('rejected')).toBe(before + 1);
    expect((await request(h.app).get('/v1/models')).status).toBe(401);
    expect((await request(h.app).get('/v1/models').set('authorization', 'Bearer reload-app-key')).status).toBe(200);
    expect(lines.some((l) => l.includes('would switch client auth off') && l.includes('"level":50'))).toBe(true);
  });

  it('logs a change of keys at warn, as counts, never the keys', async () => {
    lines.length = 0;
    expect(h.reload(yaml('["${APP_KEY}", "${APP_KEY_2}"]'))).toBe(true);
    expect(await reloads('ok')).toBeGreaterThanOrEqual(1);
    const warn = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'auth keys changed by a config reload');
    expect(warn).toMatchObject({ level: 40, clientKeys: { added: 1, removed: 0, total: 2 }, adminKeys: { added: 0, removed: 0, total: 1 } });
    expect(lines.join('\n')).not.toContain('reload-app-key');
    expect((await request(h.app).get('/v1/models').set('authorization', 'Bearer reload-app-key-2')).status).toBe(200);
  });
});

describe('the operator listener (server.adminListen)', () => {
  const yaml = (host: string) => `
server: { adminListen: { host: ${host}, port: 0 } }
auth: { keys: [app], adminKeys: [adm] }
providers: { a: { kind: openai, apiKeys: [k] }, off: { kind: openai, apiKeys: ["\${NOPE_KEY}"] } }
routes: { chat: { targets: [{ provider: a, model: m }] } }
`;
  let h: RouterHarness;
  let remote: RouterHarness;
  beforeAll(async () => {
    h = await startRouter(yaml('127.0.0.1'), { providers: { a: new FakeProvider('a') } });
    remote = await startRouter(yaml('0.0.0.0'), { providers: { a: new FakeProvider('a') } });
  });
  afterAll(async () => {
    await h.close();
    await remote.close();
  });

  it('serves /metrics, the detailed /readyz, /healthz and /admin; nothing of /v1', async () => {
    const admin = h.adminUrl!;
    const metrics = await fetch(`${admin}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('llm_router_');
    const ready = await (await fetch(`${admin}/readyz`)).json();
    expect(ready).toMatchObject({ status: 'ready', providers: ['a'], disabled: { off: expect.stringContaining('NOPE_KEY') } });
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    // On loopback, /admin needs no key.
    expect((await fetch(`${admin}/admin/targets`)).status).toBe(200);
    const v1 = await fetch(`${admin}/v1/models`, { headers: { authorization: 'Bearer app' } });
    expect(v1.status).toBe(404);
    expect((await v1.json()).error.code).toBe('unknown_url');
  });

  it('leaves the main listener only /healthz and the short /readyz', async () => {
    const adminKey = { authorization: 'Bearer adm' };
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${h.url}/readyz`, { headers: adminKey })).json()).toEqual({ status: 'ready' });
    for (const p of ['/metrics', '/admin/targets']) {
      const res = await fetch(`${h.url}${p}`, { headers: adminKey });
      expect(res.status, p).toBe(404);
      expect((await res.json()).error.code).toBe('unknown_url');
    }
    expect((await fetch(`${h.url}/v1/models`, { headers: { authorization: 'Bearer app' } })).status).toBe(200);
  });

  it('still requires the admin key for /admin when it listens beyond loopback', async () => {
    const admin = remote.adminUrl!;
    expect((await fetch(`${admin}/admin/targets`)).status).toBe(401);
    expect((await fetch(`${admin}/admin/targets`, { headers: { authorization: 'Bearer adm' } })).status).toBe(200);
    expect((await fetch(`${admin}/metrics`)).status).toBe(200);
  });
});
