import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { openaiOptionsSchema } from '../../../providers/openai/options.js';
import type { ChatChunk } from '../../../src/core/chat-response.js';
import { ProviderError } from '../../../src/core/provider-error.js';
import type { Provider } from '../../../src/core/provider.js';
import { parseChatRequest } from '../../../src/wire/parse-chat-request.js';
import { createOpenAIProvider } from '../../../providers/openai/index.js';
import { startFakeUpstream, type FakeUpstream } from '../../fixtures/fake-upstream.js';

const logger = pino({ level: 'silent' });
const meta = { requestId: 'req-1', receivedAt: 0 };
const target = { provider: 'oa', model: 'gpt-4o-mini' };
const KEY_A = 'sk-test-AAAAAAAAAAAAAAAA';
const KEY_B = 'sk-test-BBBBBBBBBBBBBBBB';

function request(extra: Record<string, unknown> = {}) {
  return parseChatRequest({ model: 'chat', messages: [{ role: 'user', content: 'hello world' }], ...extra }, meta);
}

const signal = () => new AbortController().signal;

async function collect(chunks: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

const textOf = (chunks: ChatChunk[]) => chunks.map((c) => (c.type === 'delta' ? (c.text ?? '') : '')).join('');

/** Runs `p` and returns the ProviderError it rejected with. */
async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

let up: FakeUpstream;
let clock = 1_000_000;

function provider(cfg: Record<string, unknown> = {}): Provider {
  const config = openaiOptionsSchema.parse({ kind: 'openai', apiKeys: [KEY_A, KEY_B], baseURL: `${up.url}/v1`, timeoutMs: 2_000, keyCooldownMs: 60_000, ...cfg });
  return createOpenAIProvider('oa', config, { logger, baseDir: '.' }, { now: () => clock });
}

const authOf = (i: number) => up.chatRequests()[i]?.headers.authorization;

beforeAll(async () => {
  up = await startFakeUpstream();
});
afterAll(async () => {
  await up.close();
});
beforeEach(() => {
  up.reset();
  clock = 1_000_000;
});

describe('openai provider: answers', () => {
  it('chat: sends the target model to /v1/chat/completions and reads the answer', async () => {
    const res = await provider().chat(request({ temperature: 0.2 }), target, { signal: signal() });
    expect(res.model).toBe('gpt-4o-mini');
    expect(res.id).toBe('chatcmpl-fake');
    expect(res.choices[0]).toMatchObject({ index: 0, finishReason: 'stop', message: { content: 'echo: hello world' } });
    expect(res.usage).toMatchObject({ promptTokens: 2, completionTokens: 3, totalTokens: 5 });
    const sent = up.chatRequests()[0]!;
    expect(sent.method).toBe('POST');
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY_A}`);
    expect(sent.body).toMatchObject({ model: 'gpt-4o-mini', temperature: 0.2, messages: [{ role: 'user', content: 'hello world' }] });
    expect((sent.body as Record<string, unknown>).stream).toBeUndefined();
  });

  it('stream: resolves with id and model, then yields deltas, finish and usage', async () => {
    const s = await provider().stream(request({ stream: true }), target, { signal: signal() });
    expect(s).toMatchObject({ id: 'chatcmpl-fake', model: 'gpt-4o-mini', systemFingerprint: 'fp_fake' });
    const chunks = await collect(s.chunks);
    expect(textOf(chunks)).toBe('echo: hello world');
    expect(chunks.filter((c) => c.type === 'finish')).toEqual([{ type: 'finish', index: 0, finish: 'stop' }]);
    expect(chunks.at(-1)).toMatchObject({ type: 'usage', usage: { promptTokens: 2, completionTokens: 3 } });
    // Usage is always asked upstream: the router meters tokens even when the app did not ask.
    expect(up.chatRequests()[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('tools: a tool call comes back whole (chat) and as argument deltas (stream)', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const p = provider();
    const res = await p.chat(request({ tools }), target, { signal: signal() });
    expect(res.choices[0]!.finishReason).toBe('tool_calls');
    expect(res.choices[0]!.message.toolCalls).toEqual([{ id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"input":"hello world"}' } }]);
    expect(up.chatRequests()[0]!.body).toMatchObject({ tools });

    const s = await p.stream(request({ tools, stream: true }), target, { signal: signal() });
    const chunks = await collect(s.chunks);
    const deltas = chunks.flatMap((c) => (c.type === 'delta' ? (c.toolCalls ?? []) : []));
    expect(deltas[0]).toMatchObject({ index: 0, id: 'call_0', type: 'function', function: { name: 'get_weather' } });
    expect(deltas.map((d) => d.function?.arguments ?? '').join('')).toBe('{"input":"hello world"}');
    expect(chunks.find((c) => c.type === 'finish')).toMatchObject({ finish: 'tool_calls' });
  });

  it('tool_choice "none" is forwarded and answered in text', async () => {
    const tools = [{ type: 'function', function: { name: 'f' } }];
    const res = await provider().chat(request({ tools, tool_choice: 'none' }), target, { signal: signal() });
    expect(res.choices[0]!.message.content).toBe('echo: hello world');
    expect(up.chatRequests()[0]!.body).toMatchObject({ tool_choice: 'none' });
  });

  it('passthrough fields reach the upstream body untouched', async () => {
    const passthrough = {
      logit_bias: { '50256': -100 },
      metadata: { team: 'search', trace: 'abc' },
      service_tier: 'flex',
      store: false,
      logprobs: true,
      top_logprobs: 2,
      prediction: { type: 'content', content: 'x' },
    };
    await provider().chat(request(passthrough), target, { signal: signal() });
    expect(up.chatRequests()[0]!.body).toMatchObject(passthrough);
  });

  it.each(['max_completion_tokens', 'max_tokens'])('%s is sent under the name the app used', async (field) => {
    await provider().chat(request({ [field]: 77 }), target, { signal: signal() });
    const body = up.chatRequests()[0]!.body as Record<string, unknown>;
    expect(body[field]).toBe(77);
    expect(Object.keys(body).filter((k) => k.startsWith('max_'))).toEqual([field]);
  });

  it('sends organization, project and configured headers; keyless servers get no Authorization', async () => {
    await provider({ organization: 'org-1', project: 'proj-1', headers: { 'x-team': 'a' } }).chat(request(), target, { signal: signal() });
    expect(up.chatRequests()[0]!.headers).toMatchObject({ 'openai-organization': 'org-1', 'openai-project': 'proj-1', 'x-team': 'a' });

    await provider({ apiKeys: [], allowNoKey: true }).chat(request(), target, { signal: signal() });
    expect(up.chatRequests()[1]!.headers.authorization).toBeUndefined();
  });

  it('sends credentials in the base URL as Basic auth to a keyless server (the bearer of a key wins over them)', async () => {
    const withUser = `${up.url.replace('://', '://bob:p%40ss@')}/v1`;
    await provider({ apiKeys: [], allowNoKey: true, baseURL: withUser }).chat(request(), target, { signal: signal() });
    expect(up.chatRequests()[0]!.headers.authorization).toBe(`Basic ${Buffer.from('bob:p@ss').toString('base64')}`);
    await provider({ apiKeys: [KEY_A], baseURL: withUser }).chat(request(), target, { signal: signal() });
    expect(up.chatRequests()[1]!.headers.authorization).toBe(`Bearer ${KEY_A}`);
  });

  it('capabilities and health', async () => {
    const p = provider({ contextLength: { 'gpt-4o-mini': 128_000 } });
    expect(p.capabilities('gpt-4o-mini')).toEqual({ tools: true, jsonObject: true, jsonSchema: true, maxChoices: 128, vision: true, contextLength: 128_000 });
    expect(p.capabilities('other').contextLength).toBeUndefined();
    const h = await p.health();
    expect(h).toMatchObject({ ok: true });
    expect(up.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/models' });

    up.script({ on: 'models', status: 401 });
    const bad = await p.health();
    expect(bad).toMatchObject({ ok: false, kind: 'auth', status: 401 });
    expect(bad.detail).not.toContain('sk-fake');
  });

  it('refuses to build without a key unless allowNoKey', () => {
    expect(() => provider({ apiKeys: [] })).toThrow(/no API key/);
  });
});

describe('openai provider: key rotation', () => {
  it('a 429 on key A moves the same call to key B, and A rests until the cooldown ends', async () => {
    const p = provider();
    up.script({ status: 429, headers: { 'retry-after': '1' } });
    const res = await p.chat(request(), target, { signal: signal() });
    expect(res.choices[0]!.message.content).toBe('echo: hello world');
    expect([authOf(0), authOf(1)]).toEqual([`Bearer ${KEY_A}`, `Bearer ${KEY_B}`]);

    await p.chat(request(), target, { signal: signal() });
    expect(authOf(2)).toBe(`Bearer ${KEY_B}`); // A is resting

    clock += 60_001;
    await p.chat(request(), target, { signal: signal() });
    await p.chat(request(), target, { signal: signal() });
    expect([authOf(3), authOf(4)].sort()).toEqual([`Bearer ${KEY_A}`, `Bearer ${KEY_B}`]);
  });

  it('a 401 rests the key too', async () => {
    const p = provider();
    up.script((req) => (req.headers.authorization === `Bearer ${KEY_A}` ? { status: 401 } : undefined));
    await p.chat(request(), target, { signal: signal() });
    await p.chat(request(), target, { signal: signal() });
    expect([authOf(0), authOf(1), authOf(2)]).toEqual([`Bearer ${KEY_A}`, `Bearer ${KEY_B}`, `Bearer ${KEY_B}`]);
  });

  it('an upstream that echoes the key back never gets it into the error', async () => {
    // Configured keys are scrubbed even when they do not look like sk- keys.
    const odd = 'plainkey-0123456789abcdef';
    up.scriptAlways((req) => ({ status: 401, body: { error: { message: `bad key ${String(req.headers.authorization)}`, code: 'invalid_api_key' } } }));
    const e = await failure(provider({ apiKeys: [odd] }).chat(request(), target, { signal: signal() }));
    expect(e.kind).toBe('auth');
    expect(e.message).not.toContain(odd);
    expect(e.detail).not.toContain(odd);
    expect(e.detail).toContain('Bearer ***');
    expect(e.cause).toBeUndefined();
  });

  it('rotates when opening a stream too', async () => {
    up.script({ status: 429 });
    const s = await provider().stream(request({ stream: true }), target, { signal: signal() });
    expect(textOf(await collect(s.chunks))).toBe('echo: hello world');
    expect([authOf(0), authOf(1)]).toEqual([`Bearer ${KEY_A}`, `Bearer ${KEY_B}`]);
  });

  it('when every key fails the last error is thrown; then calls fail fast until a key frees', async () => {
    const p = provider({ keyCooldownMs: 10_000 });
    // A 429 with a hint rests the key for exactly that long; one without, for the cooldown.
    up.script({ status: 429, headers: { 'retry-after-ms': '500' } }, { status: 429 });
    const e = await failure(p.chat(request(), target, { signal: signal() }));
    expect(e).toMatchObject({ kind: 'rate_limit', status: 429, retryable: true });
    expect(up.chatRequests()).toHaveLength(2);

    clock += 400;
    const fast = await failure(p.chat(request(), target, { signal: signal() }));
    expect(fast).toMatchObject({ kind: 'rate_limit', retryAfterMs: 100, provider: 'oa' });
    expect(fast.message).toBe('provider oa is rate limiting');
    expect(fast.detail).toMatch(/all 2 API keys are resting/);
    expect(up.chatRequests()).toHaveLength(2); // nothing sent

    clock += 100;
    await expect(p.chat(request(), target, { signal: signal() })).resolves.toBeDefined();
    expect(up.chatRequests().at(-1)!.headers.authorization).toBe(up.chatRequests()[0]!.headers.authorization);
  });

  it('errors that are not about the key do not rotate', async () => {
    up.script({ status: 500 });
    expect((await failure(provider().chat(request(), target, { signal: signal() }))).kind).toBe('server');
    expect(up.chatRequests()).toHaveLength(1);
  });
});

describe('openai provider: failures are classified', () => {
  it.each([
    [{ status: 500 }, 'server', 500],
    [{ status: 503, headers: { 'retry-after': '2' } }, 'server', 503],
    [{ status: 400 }, 'invalid_request', 400],
    [{ status: 404 }, 'not_found', 404],
    [{ status: 403 }, 'auth', 403],
    [{ errorBody200: true }, 'server', undefined],
    [{ malformedChunk: true }, 'server', undefined],
    [{ cutAfterChunks: 1 }, 'network', undefined],
  ] as const)('chat %j → %s', async (behaviour, kind, status) => {
    up.script(behaviour);
    const e = await failure(provider().chat(request(), target, { signal: signal() }));
    expect(e.kind).toBe(kind);
    expect(e.status).toBe(status);
    expect(e.provider).toBe('oa');
    expect(e.message).toMatch(/^provider oa /);
    expect(e.detail).toMatch(/^oa: /);
  });

  it('400 carries param; 503 carries retry-after', async () => {
    up.script({ status: 400 }, { status: 503, headers: { 'retry-after': '2' } });
    expect(await failure(provider().chat(request(), target, { signal: signal() }))).toMatchObject({ param: 'temperature', retryable: false });
    expect(await failure(provider().chat(request(), target, { signal: signal() }))).toMatchObject({ retryAfterMs: 2000, retryable: true });
  });

  it('an upstream slower than timeoutMs → timeout, and the upstream request is closed', async () => {
    up.script({ delayMs: 1_000 });
    const e = await failure(provider({ timeoutMs: 100 }).chat(request(), target, { signal: signal() }));
    expect(e.kind).toBe('timeout');
    await vi.waitFor(() => expect(up.chatRequests()[0]!.clientClosed).toBe(true));
  });

  it('a stream whose headers came but whose first event does not within timeoutMs → timeout, and the upstream request is closed', async () => {
    up.script({ stallAfterChunks: 0, stallMs: 3_000 });
    const t0 = performance.now();
    const e = await failure(provider({ timeoutMs: 150 }).stream(request({ stream: true }), target, { signal: signal() }));
    expect(e.kind).toBe('timeout');
    expect(performance.now() - t0).toBeLessThan(2_000);
    await vi.waitFor(() => expect(up.chatRequests()[0]!.clientClosed).toBe(true));
  });

  it('a stream under way is not cut by timeoutMs (the idle timers are the router\'s)', async () => {
    up.script({ stallAfterChunks: 1, stallMs: 400 });
    const s = await provider({ timeoutMs: 150 }).stream(request({ stream: true }), target, { signal: signal() });
    const seen: string[] = [];
    for await (const c of s.chunks) seen.push(c.type);
    expect(seen).toContain('finish');
  });

  it('connection refused → network; back up → answers again', async () => {
    const p = provider();
    await up.down();
    try {
      // The first call may still pick a pooled keep-alive socket the server just closed ("other side closed").
      const first = await failure(p.chat(request(), target, { signal: signal() }));
      expect(first).toMatchObject({ kind: 'network', retryable: true });
      const e = await failure(p.chat(request(), target, { signal: signal() }));
      expect(e).toMatchObject({ kind: 'network', retryable: true });
      // The app is told the provider is unreachable; where it tried is for operators.
      expect(e.message).toBe('provider oa unreachable');
      expect(e.detail).toContain('ECONNREFUSED');
      const s = await failure(p.stream(request({ stream: true }), target, { signal: signal() }));
      expect(s.kind).toBe('network');
      expect(await p.health()).toMatchObject({ ok: false, kind: 'network' });
    } finally {
      await up.up();
    }
    await expect(p.chat(request(), target, { signal: signal() })).resolves.toMatchObject({ model: 'gpt-4o-mini' });
  });

  it('abort (chat) → aborted, and the upstream request is closed', async () => {
    up.script({ delayMs: 5_000 });
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(new Error('client went away')), 50);
    const e = await failure(provider().chat(request(), target, { signal: ctrl.signal }));
    expect(e).toMatchObject({ kind: 'aborted', retryable: false });
    await vi.waitFor(() => expect(up.chatRequests()[0]!.clientClosed).toBe(true));
  });
});

describe('openai provider: stream failures', () => {
  it.each([
    [{ status: 429, headers: { 'retry-after': '1' } }, 'rate_limit'],
    [{ status: 502 }, 'server'],
    [{ errorBody200: true }, 'server'],
  ] as const)('stream() rejects before any chunk on %j → %s', async (behaviour, kind) => {
    up.scriptAlways(() => behaviour);
    const e = await failure(provider().stream(request({ stream: true }), target, { signal: signal() }));
    expect(e.kind).toBe(kind);
  });

  it('upstream slow to answer a stream → timeout', async () => {
    up.script({ delayMs: 1_000 });
    expect((await failure(provider({ timeoutMs: 100 }).stream(request({ stream: true }), target, { signal: signal() }))).kind).toBe('timeout');
  });

  it.each([
    [{ cutAfterChunks: 2 }, 'network'],
    [{ malformedChunk: true }, 'server'],
    [{ errorEvent: true }, 'server'],
    [{ noFinish: true }, 'server'],
  ] as const)('after chunks, %j → the iterator throws %s', async (behaviour, kind) => {
    up.script(behaviour);
    const s = await provider().stream(request({ stream: true }), target, { signal: signal() });
    const seen: ChatChunk[] = [];
    const err = await (async () => {
      for await (const c of s.chunks) seen.push(c);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe(kind);
    expect((err as ProviderError).retryable).toBe(true);
    expect(seen.some((c) => c.type === 'finish')).toBe(false);
  });

  it('abort mid-stream → the iterator throws aborted and the upstream request is closed', async () => {
    up.script({ stallAfterChunks: 2, stallMs: 10_000 });
    const ctrl = new AbortController();
    const s = await provider().stream(request({ stream: true }), target, { signal: ctrl.signal });
    const seen: ChatChunk[] = [];
    const err = await (async () => {
      for await (const c of s.chunks) {
        seen.push(c);
        setTimeout(() => ctrl.abort(), 30);
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ kind: 'aborted' });
    expect(textOf(seen)).toBe('echo: ');
    await vi.waitFor(() => expect(up.chatRequests()[0]!.clientClosed).toBe(true));
  });

  it('a consumer that stops reading closes the upstream request', async () => {
    up.script({ stallAfterChunks: 3, stallMs: 10_000 });
    const s = await provider().stream(request({ stream: true }), target, { signal: signal() });
    const it = s.chunks[Symbol.asyncIterator]();
    await it.next();
    await it.return?.();
    await vi.waitFor(() => expect(up.chatRequests()[0]!.clientClosed).toBe(true));
  });

  it('return() while a read waits on a stalled upstream closes the call, and the waiting read ends the stream', async () => {
    up.script({ stallAfterChunks: 2, stallMs: 10_000 });
    const s = await provider().stream(request({ stream: true }), target, { signal: signal() });
    const it = s.chunks[Symbol.asyncIterator]();
    const seen: ChatChunk[] = [];
    let r = await it.next();
    while (!r.done && textOf(seen) !== 'echo: ') {
      seen.push(r.value);
      if (textOf(seen) === 'echo: ') break;
      r = await it.next();
    }
    const waiting = it.next(); // the upstream is silent: this read waits
    const second = it.next(); // queued behind it
    await new Promise((res) => setTimeout(res, 30));
    await expect(it.return!()).resolves.toEqual({ done: true, value: undefined });
    await expect(waiting).resolves.toEqual({ done: true, value: undefined });
    await expect(second).resolves.toEqual({ done: true, value: undefined });
    await expect(it.next()).resolves.toEqual({ done: true, value: undefined });
    await vi.waitFor(() => expect(up.chatRequests()[0]!.clientClosed).toBe(true));
  });

  it('reads after the end (or after a failure) stay done', async () => {
    const s = await provider().stream(request({ stream: true }), target, { signal: signal() });
    const it = s.chunks[Symbol.asyncIterator]();
    const seen = await collect({ [Symbol.asyncIterator]: () => it });
    expect(textOf(seen)).toBe('echo: hello world');
    await expect(it.next()).resolves.toEqual({ done: true, value: undefined });
    await expect(it.return!()).resolves.toEqual({ done: true, value: undefined });
  });

  it('a stream stalled past timeoutMs after the first event is not timed out by the provider (the router owns idle time)', async () => {
    up.script({ stallAfterChunks: 2, stallMs: 300 });
    const s = await provider({ timeoutMs: 100 }).stream(request({ stream: true }), target, { signal: signal() });
    expect(textOf(await collect(s.chunks))).toBe('echo: hello world');
  });
});
