import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDispatcher } from '../../../src/routing/dispatcher.js';
import { RouteError } from '../../../src/routing/route-error.js';
import { chatRequest } from '../../fixtures/requests.js';
import { A, B, ProbedProvider, ROUTE, flush, setup } from './helpers.js';

/** The gate behind the real dispatcher, as the runtime wires it. */
function wired(opts: Parameters<typeof setup>[0] = {}) {
  const env = setup(opts);
  const dispatcher = createDispatcher({ routes: env.routes, providers: env.providers, disabled: new Map(), gate: env.gate, random: () => 0 });
  return { ...env, dispatcher };
}

const signal = () => new AbortController().signal;

describe('health gate behind the dispatcher', () => {
  let env: ReturnType<typeof wired>;
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2025-01-01T00:00:00Z') });
  });
  afterEach(() => {
    env.gate.close();
    vi.useRealTimers();
  });

  it('opens a failing target from live outcomes and sends traffic to the fallback without calling it', async () => {
    env = wired({ a: new ProbedProvider('a', { fail: 'server' }), b: new ProbedProvider('b', { ok: 'from b' }) });
    for (let i = 0; i < 4; i++) {
      const r = await env.dispatcher.chat(chatRequest(), signal());
      expect(r.target).toEqual(B);
    }
    await flush();
    expect(env.gate.target('a', 'm')?.state).toBe('open');
    const calls = env.a.calls.length;
    const r = await env.dispatcher.chat(chatRequest(), signal());
    expect(r.target).toEqual(B);
    expect(r.attempts).toHaveLength(1);
    expect(env.a.calls).toHaveLength(calls);
  });

  it('answers 503-style no_available_target when every target is open', async () => {
    env = wired({ a: new ProbedProvider('a', { fail: 'server' }), b: new ProbedProvider('b', { fail: 'network' }) });
    for (let i = 0; i < 4; i++) await env.dispatcher.chat(chatRequest(), signal()).catch(() => {});
    await flush();
    const err = await env.dispatcher.chat(chatRequest(), signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RouteError);
    expect((err as RouteError).reason).toBe('no_available_target');
  });

  it('mirrors live requests served by the fallback to the target on probation, then promotes it', async () => {
    env = wired({ a: new ProbedProvider('a', { fail: 'server' }), random: () => 0 });
    for (let i = 0; i < 4; i++) await env.dispatcher.chat(chatRequest(), signal());
    await flush();
    env.a.script(...Array.from({ length: ROUTE.shadow.promoteAfter + 1 }, () => ({ ok: 'recovered' })));
    await vi.advanceTimersByTimeAsync(ROUTE.breaker.openMs);
    expect(env.gate.target('a', 'm')?.state).toBe('probation');

    for (let i = 0; i < ROUTE.shadow.promoteAfter; i++) {
      const r = await env.dispatcher.stream(chatRequest({ stream: true }), signal());
      // The app is answered by the fallback, whatever the shadow call does.
      expect(r.target).toEqual(B);
      for await (const _ of r.stream.chunks);
      await flush();
    }
    expect(env.gate.target('a', 'm')?.state).toBe('healthy');
    expect(env.a.calls.slice(-3).every((c) => c.req.stream === true && c.req.meta.requestId.endsWith('.shadow'))).toBe(true);
    const r = await env.dispatcher.chat(chatRequest(), signal());
    expect(r.target).toEqual(A);
    expect(r.response.choices[0]!.message.content).toBe('recovered');
  });

  it('lets a target on probation serve live traffic when nothing else of the route is admitted', async () => {
    env = wired({ a: new ProbedProvider('a', { fail: 'server' }), b: new ProbedProvider('b', { fail: 'network' }) });
    for (let i = 0; i < 4; i++) await env.dispatcher.chat(chatRequest(), signal()).catch(() => {});
    await flush();
    env.b.healthy = false;
    env.a.script({ ok: 'last resort' });
    await vi.advanceTimersByTimeAsync(ROUTE.breaker.openMs);
    expect(env.gate.target('a', 'm')?.state).toBe('probation');
    expect(env.gate.target('b', 'm')?.state).toBe('open');
    const r = await env.dispatcher.chat(chatRequest(), signal());
    expect(r.target).toEqual(A);
    expect(r.response.choices[0]!.message.content).toBe('last resort');
    expect(env.gate.target('a', 'm')?.probation?.good).toBe(1);
    env.a.script({ fail: 'server' });
    await env.dispatcher.chat(chatRequest(), signal()).catch(() => {});
    expect(env.gate.target('a', 'm')?.state).toBe('open');
  });
});
