import { describe, expect, it } from 'vitest';
import { getEventListeners } from 'node:events';
import { routeSchema } from '../../../src/config/schema.js';
import { ProviderError } from '../../../src/core/provider-error.js';
import { createDispatcher } from '../../../src/routing/dispatcher.js';
import { RouteError } from '../../../src/routing/route-error.js';
import type { Provider } from '../../../src/core/provider.js';
import { FakeProvider } from '../../fixtures/fake-provider.js';
import { chatRequest } from '../../fixtures/requests.js';

function setup(route: Record<string, unknown>, ...providers: FakeProvider[]) {
  const map = new Map<string, Provider>(providers.map((p) => [p.id, p]));
  const dispatcher = createDispatcher({
    routes: { chat: routeSchema.parse(route) },
    providers: map,
    disabled: new Map([['off', 'environment variable X is not set']]),
    random: () => 0,
  });
  return dispatcher;
}

const signal = () => new AbortController().signal;

describe('dispatcher', () => {
  it('answers from the first target and records one attempt', async () => {
    const a = new FakeProvider('a');
    const d = setup({ targets: [{ provider: 'a', model: 'm1' }] }, a);
    const r = await d.chat(chatRequest(), signal());
    expect(r.target).toEqual({ provider: 'a', model: 'm1' });
    expect(r.response.choices[0]!.message.content).toBe('hello');
    expect(r.attempts).toMatchObject([{ provider: 'a', outcome: 'ok' }]);
  });

  it.each(['rate_limit', 'timeout', 'server', 'network', 'capacity'] as const)('falls back on %s', async (kind) => {
    const a = new FakeProvider('a').script({ fail: kind });
    const b = new FakeProvider('b', { ok: 'from b' });
    const d = setup({ targets: [{ provider: 'a', model: 'm' }, { provider: 'b', model: 'm' }] }, a, b);
    const r = await d.chat(chatRequest(), signal());
    expect(r.target.provider).toBe('b');
    expect(r.attempts.map((x) => x.outcome)).toEqual([kind, 'ok']);
  });

  it.each(['invalid_request', 'auth', 'not_found'] as const)('does not fall back on %s', async (kind) => {
    const a = new FakeProvider('a').script({ fail: kind });
    const b = new FakeProvider('b');
    const d = setup({ targets: [{ provider: 'a', model: 'm' }, { provider: 'b', model: 'm' }] }, a, b);
    const err = await d.chat(chatRequest(), signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RouteError);
    expect((err as RouteError).last?.kind).toBe(kind);
    expect(b.calls).toHaveLength(0);
  });

  it('retries the same target with backoff before moving on', async () => {
    const a = new FakeProvider('a').script({ fail: 'server' }, { fail: 'server' });
    const b = new FakeProvider('b');
    const d = setup({ targets: [{ provider: 'a', model: 'm' }, { provider: 'b', model: 'm' }], retry: { attempts: 3, baseDelayMs: 1 } }, a, b);
    const r = await d.chat(chatRequest(), signal());
    expect(r.target.provider).toBe('a');
    expect(a.calls).toHaveLength(3);
    expect(b.calls).toHaveLength(0);
  });

  it('moves on instead of waiting when retry-after exceeds the retry budget', async () => {
    const a = new FakeProvider('a').script({ fail: 'rate_limit', retryAfterMs: 60_000 });
    const b = new FakeProvider('b');
    const d = setup({ targets: [{ provider: 'a', model: 'm' }, { provider: 'b', model: 'm' }], retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 100 } }, a, b);
    const r = await d.chat(chatRequest(), signal());
    expect(r.target.provider).toBe('b');
    expect(a.calls).toHaveLength(1);
  });

  it('reports an exhausted route with the last error', async () => {
    const a = new FakeProvider('a', { fail: 'server' });
    const d = setup({ targets: [{ provider: 'a', model: 'm' }] }, a);
    const err = (await d.chat(chatRequest(), signal()).catch((e: unknown) => e)) as RouteError;
    expect(err.reason).toBe('exhausted');
    expect(err.last).toBeInstanceOf(ProviderError);
    expect(err.last?.kind).toBe('server');
  });

  it('rejects an unknown route naming the model param', async () => {
    const d = setup({ targets: [{ provider: 'a', model: 'm' }] }, new FakeProvider('a'));
    const err = (await d.chat(chatRequest({ model: 'nope' }), signal()).catch((e: unknown) => e)) as RouteError;
    expect(err.reason).toBe('unknown_route');
    expect(err.param).toBe('model');
  });

  it('skips targets that cannot serve the request and says why when none can', async () => {
    const a = new FakeProvider('a');
    a.caps = { ...a.caps, tools: false };
    const b = new FakeProvider('b');
    const d = setup({ targets: [{ provider: 'a', model: 'm' }, { provider: 'b', model: 'm' }] }, a, b);
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    const r = await d.chat(chatRequest({ tools }), signal());
    expect(r.target.provider).toBe('b');
    expect(a.calls).toHaveLength(0);

    const only = setup({ targets: [{ provider: 'a', model: 'm' }] }, a);
    const err = (await only.chat(chatRequest({ tools }), signal()).catch((e: unknown) => e)) as RouteError;
    expect(err.reason).toBe('no_capable_target');
    expect(err.message).toContain('tools not supported');
  });

  it('skips a target whose context the prompt cannot fit', async () => {
    const a = new FakeProvider('a');
    a.caps = { ...a.caps, contextLength: 50 };
    const b = new FakeProvider('b');
    const d = setup({ targets: [{ provider: 'a', model: 'm' }, { provider: 'b', model: 'm' }] }, a, b);
    const long = 'word '.repeat(200);
    const r = await d.chat(chatRequest({ messages: [{ role: 'user', content: long }] }), signal());
    expect(r.target.provider).toBe('b');
    const short = await d.chat(chatRequest(), signal());
    expect(short.target.provider).toBe('a');
  });

  it('says which providers are disabled when a route has none enabled', async () => {
    const d = setup({ targets: [{ provider: 'off', model: 'm' }] });
    const err = (await d.chat(chatRequest(), signal()).catch((e: unknown) => e)) as RouteError;
    expect(err.reason).toBe('no_available_target');
    expect(err.message).toContain('environment variable X is not set');
  });

  it('spreads by weight under the weighted strategy', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const map = new Map<string, Provider>([['a', a], ['b', b]]);
    let i = 0;
    const seq = [0.1, 0.9, 0.95, 0.2];
    const d = createDispatcher({
      routes: { chat: routeSchema.parse({ strategy: 'weighted', targets: [{ provider: 'a', model: 'm', weight: 3 }, { provider: 'b', model: 'm', weight: 1 }] }) },
      providers: map,
      disabled: new Map(),
      random: () => seq[i++ % seq.length]!,
    });
    const first = await d.chat(chatRequest(), signal());
    const second = await d.chat(chatRequest(), signal());
    expect(first.target.provider).toBe('a');
    expect(second.target.provider).toBe('b');
  });

  describe('streams', () => {
    it('falls back when a stream fails before its first chunk', async () => {
      const a = new FakeProvider('a').script({ stream: [], fail: 'server' });
      const b = new FakeProvider('b', { stream: ['x', 'y'] });
      const d = setup({ targets: [{ provider: 'a', model: 'm' }, { provider: 'b', model: 'm' }] }, a, b);
      const r = await d.stream(chatRequest({ stream: true }), signal());
      expect(r.target.provider).toBe('b');
      const texts: string[] = [];
      for await (const c of r.stream.chunks) if (c.type === 'delta' && c.text) texts.push(c.text);
      expect(texts).toEqual(['x', 'y']);
    });

    it('falls back when the first token does not come in time', async () => {
      const a = new FakeProvider('a').script({ hang: true });
      const b = new FakeProvider('b');
      const d = setup({ targets: [{ provider: 'a', model: 'm' }, { provider: 'b', model: 'm' }], firstTokenTimeoutMs: 50 }, a, b);
      const r = await d.stream(chatRequest({ stream: true }), signal());
      expect(r.target.provider).toBe('b');
      expect(r.attempts[0]!.outcome).toBe('timeout');
    });

    it('surfaces a failure after the first chunk from the iterator instead of falling back', async () => {
      const a = new FakeProvider('a').script({ stream: ['x'], fail: 'network' });
      const b = new FakeProvider('b');
      const d = setup({ targets: [{ provider: 'a', model: 'm' }, { provider: 'b', model: 'm' }] }, a, b);
      const r = await d.stream(chatRequest({ stream: true }), signal());
      const it = r.stream.chunks[Symbol.asyncIterator]();
      expect((await it.next()).value).toMatchObject({ text: 'x' });
      await expect(it.next()).rejects.toMatchObject({ kind: 'network' });
      expect(b.calls).toHaveLength(0);
    });

    it('fails a stream that stalls longer than the idle timeout', async () => {
      const a = new FakeProvider('a').script({ stream: ['x', 'y'], delayMs: 200 });
      const d = setup({ targets: [{ provider: 'a', model: 'm' }], idleTimeoutMs: 50, firstTokenTimeoutMs: 1000 }, a);
      const r = await d.stream(chatRequest({ stream: true }), signal());
      const it = r.stream.chunks[Symbol.asyncIterator]();
      await expect(it.next()).resolves.toMatchObject({ value: { text: 'x' } });
      await expect(it.next()).rejects.toMatchObject({ kind: 'timeout' });
    });

    it('keeps streaming past the first-token timeout once tokens flow', async () => {
      const a = new FakeProvider('a').script({ stream: ['a', 'b', 'c', 'd'], delayMs: 40 });
      const d = setup({ targets: [{ provider: 'a', model: 'm' }], firstTokenTimeoutMs: 60 }, a);
      const r = await d.stream(chatRequest({ stream: true }), signal());
      const texts: string[] = [];
      for await (const c of r.stream.chunks) if (c.type === 'delta' && c.text) texts.push(c.text);
      expect(texts.join('')).toBe('abcd');
    });
  });
});

describe('dispatcher: nothing stays attached to the request signal once a call is over', () => {
  // A listener left on a request's signal keeps the whole call (upstream request, parser,
  // chunks) reachable for as long as the signal lives; with a composite signal that was forever.
  const listeners = (s: AbortSignal) => getEventListeners(s, 'abort').length;

  it('after a whole answer, a stream read to its end, and a stream given up early', async () => {
    const a = new FakeProvider('a', { ok: 'hello there, a few words' });
    const d = setup({ targets: [{ provider: 'a', model: 'm' }] }, a);
    const ctl = new AbortController();
    await d.chat(chatRequest(), ctl.signal);
    expect(listeners(ctl.signal)).toBe(0);

    const whole = await d.stream(chatRequest({ stream: true }), ctl.signal);
    for await (const _ of whole.stream.chunks) void _;
    expect(listeners(ctl.signal)).toBe(0);

    const early = await d.stream(chatRequest({ stream: true }), ctl.signal);
    const it = early.stream.chunks[Symbol.asyncIterator]();
    await it.next();
    await it.return?.();
    expect(listeners(ctl.signal)).toBe(0);
  });
});
