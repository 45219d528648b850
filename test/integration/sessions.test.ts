import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';
import { deletePrefix, runPrefix, TEST_REDIS_URL } from '../unit/state/redis-test-support.js';

type Sent = { messages: Array<{ role: string; content: unknown }> };

/** Conversations kept by the router, through the real app and the openai SDK, on both state backends. */
describe.each(['memory', 'redis'] as const)('conversation sessions (%s backend)', (backend) => {
  let up: FakeUpstream;
  let h: RouterHarness;
  let a: OpenAI;
  let b: OpenAI;
  const prefix = runPrefix('sessions-it');

  beforeAll(async () => {
    up = await startFakeUpstream();
    h = await startRouter(`
auth: { keys: [key-a, key-b] }
${backend === 'redis' ? `state: { backend: redis, redis: { url: "${TEST_REDIS_URL}", keyPrefix: "${prefix}" } }` : ''}
providers:
  up: { kind: openai, apiKeys: [sk-up], baseURL: "${up.url}/v1", contextLength: { small-model: 300 } }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }] }
  small: { targets: [{ provider: up, model: small-model }], defaultMaxTokens: 50 }
  summarized:
    targets: [{ provider: up, model: gpt-4o-mini }]
    sessionSummary: { route: summarizer, triggerTokens: 100, keepTurns: 1 }
  summarizer: { targets: [{ provider: up, model: summary-model }] }
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

  const turn = (client: OpenAI, session: string, content: string, model = 'chat', stream = false) =>
    stream
      ? (async () => {
          const s = await client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content }] }, { headers: { 'x-session-id': session } });
          let text = '';
          for await (const c of s) text += c.choices[0]?.delta.content ?? '';
          return text;
        })()
      : client.chat.completions.create({ model, messages: [{ role: 'user', content }] }, { headers: { 'x-session-id': session } }).withResponse();

  it('keeps a conversation across five turns while the app sends only the new turn (streamed turns too)', async () => {
    const created = (await (await fetch(`${h.baseURL}/sessions`, { method: 'POST', headers: { authorization: 'Bearer key-a' } })).json()) as { id: string };
    expect(created.id).toMatch(/^sess_/);
    for (let i = 1; i <= 5; i++) {
      if (i === 3) await turn(a, created.id, `turn ${i}`, 'chat', true);
      else {
        const r = (await turn(a, created.id, `turn ${i}`)) as Awaited<ReturnType<ReturnType<OpenAI['chat']['completions']['create']>['withResponse']>>;
        expect(r.response.headers.get('x-router-session-turns')).toBe(String(i - 1));
      }
    }
    const sent = up.chatRequests().map((r) => (r.body as Sent).messages);
    expect(sent[4]!.map((m) => [m.role, m.content])).toEqual([
      ['user', 'turn 1'], ['assistant', 'echo: turn 1'],
      ['user', 'turn 2'], ['assistant', 'echo: turn 2'],
      ['user', 'turn 3'], ['assistant', 'echo: turn 3'],
      ['user', 'turn 4'], ['assistant', 'echo: turn 4'],
      ['user', 'turn 5'],
    ]);
    const got = (await (await fetch(`${h.baseURL}/sessions/${created.id}`, { headers: { authorization: 'Bearer key-a' } })).json()) as { message_count: number; token_count: number; messages: unknown[] };
    expect(got.message_count).toBe(10);
    expect(got.token_count).toBeGreaterThan(0);
  });

  it('keeps each key\'s sessions to itself (another key gets 404) and deletes at once', async () => {
    const id = `mine-${backend}-${Date.now()}`;
    await turn(a, id, 'secret plans');
    const foreign = await fetch(`${h.baseURL}/sessions/${id}`, { headers: { authorization: 'Bearer key-b' } });
    expect(foreign.status).toBe(404);
    // The same id under key b is b's own, empty conversation: a's turn is not spliced in.
    up.reset();
    await turn(b, id, 'hello');
    expect((up.chatRequests()[0]!.body as Sent).messages).toHaveLength(1);
    const del = await fetch(`${h.baseURL}/sessions/${id}`, { method: 'DELETE', headers: { authorization: 'Bearer key-a' } });
    expect(del.status).toBe(200);
    expect((await fetch(`${h.baseURL}/sessions/${id}`, { headers: { authorization: 'Bearer key-a' } })).status).toBe(404);
  });

  it('fits a long conversation to a small context, dropping the oldest turns, and says so', async () => {
    const id = `long-${backend}-${Date.now()}`;
    const long = (i: number) => `turn ${i} ${'many words here '.repeat(12)}`;
    let last: Awaited<ReturnType<ReturnType<OpenAI['chat']['completions']['create']>['withResponse']>> | undefined;
    for (let i = 1; i <= 6; i++) last = (await turn(a, id, long(i), 'small')) as typeof last;
    expect(last!.response.headers.get('x-router-truncated')).toMatch(/messages/);
    const sent = (up.chatRequests().at(-1)!.body as Sent).messages;
    expect(sent.at(-1)!.content).toBe(long(6));
    expect(sent.length).toBeLessThan(11);
    expect(sent[0]!.role).toBe('user');
  });

  it('summarises older turns with another route once the history grows past triggerTokens', async () => {
    const id = `sum-${backend}-${Date.now()}`;
    const long = (i: number) => `turn ${i}: ${'the customer explained the problem in detail '.repeat(3)}`;
    let summarized: string | null = null;
    for (let i = 1; i <= 4 && !summarized; i++) {
      const r = (await turn(a, id, long(i), 'summarized')) as Awaited<ReturnType<ReturnType<OpenAI['chat']['completions']['create']>['withResponse']>>;
      summarized = r.response.headers.get('x-router-session-summarized');
    }
    expect(summarized).toMatch(/messages/);
    const calls = up.chatRequests();
    const summaryCall = calls.find((c) => (c.body as { model: string }).model === 'summary-model')!;
    expect(JSON.stringify(summaryCall.body)).toContain('turn 1');
    const main = (calls.at(-1)!.body as Sent).messages;
    expect(String(main[0]!.content)).toMatch(/^Summary of the earlier conversation: /);
    expect(main.at(-1)!.content).toMatch(/^turn \d/);
    const stored = (await (await fetch(`${h.baseURL}/sessions/${id}`, { headers: { authorization: 'Bearer key-a' } })).json()) as { messages: Array<{ role: string; content: string }> };
    expect(stored.messages[0]!.content).toMatch(/^Summary of the earlier conversation: /);
    expect(stored.messages.length).toBeLessThan(8);
  });

  it('refuses a bad session id with 400 naming the header', async () => {
    const err = (await a.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-session-id': 'bad id!' } }).catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(400);
    expect(err.param).toBe('x-session-id');
  });
});
