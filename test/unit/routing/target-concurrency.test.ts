import { describe, expect, it } from 'vitest';
import { routeSchema, targetSchema, type RouteConfig } from '../../../src/config/schema.js';
import type { ChatRequest } from '../../../src/core/chat-request.js';
import type { ChatChunk, ChatResponse } from '../../../src/core/chat-response.js';
import type { CallOptions, Provider, Target } from '../../../src/core/provider.js';
import { toWireError } from '../../../src/edge/http-errors.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { createDispatcher } from '../../../src/routing/dispatcher.js';
import { RouteError } from '../../../src/routing/route-error.js';
import { createTargetConcurrency, limitsFromRoutes, type TargetConcurrency } from '../../../src/routing/target-concurrency.js';
import { ProviderError } from '../../../src/core/provider-error.js';
import { guardStream } from '../../../src/routing/stream-guards.js';
import type { CallOutcome, TargetGate } from '../../../src/routing/target-gate.js';
import { FakeProvider, type FakeStep } from '../../fixtures/fake-provider.js';
import { chatRequest } from '../../fixtures/requests.js';

/** A FakeProvider whose chat calls are held until the test lets them go (or for `holdMs`), counting how many run at once. */
class HeldProvider extends FakeProvider {
  active = 0;
  peak = 0;
  holdMs?: number;
  private held: Array<() => void> = [];

  override async chat(req: ChatRequest, target: Target, opts: CallOptions): Promise<ChatResponse> {
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    try {
      if (this.holdMs !== undefined) await new Promise((r) => setTimeout(r, this.holdMs));
      else await new Promise<void>((r) => this.held.push(r));
      return await super.chat(req, target, opts);
    } finally {
      this.active--;
    }
  }

  /** Lets the oldest held call go on. */
  releaseOne(): void {
    this.held.shift()?.();
  }

  get holding(): number {
    return this.held.length;
  }
}

function setup(routes: Record<string, Record<string, unknown>>, providers: FakeProvider[], gate?: TargetGate) {
  const parsed: Record<string, RouteConfig> = Object.fromEntries(Object.entries(routes).map(([k, r]) => [k, routeSchema.parse(r)]));
  const metrics = createMetrics();
  const concurrency = createTargetConcurrency({ routes: parsed, metrics });
  const dispatcher = createDispatcher({
    routes: parsed,
    providers: new Map<string, Provider>(providers.map((p) => [p.id, p])),
    disabled: new Map(),
    concurrency,
    metrics,
    gate,
    random: () => 0,
  });
  return { dispatcher, concurrency, metrics };
}

const signal = () => new AbortController().signal;

/** Waits (a few ms at a time, at most 2 s) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

const pool = (c: TargetConcurrency, provider = 'a') => c.pools().find((p) => p.provider === provider)!;
const idle = (c: TargetConcurrency) => c.pools().every((p) => p.inflight === 0 && p.queued === 0);

async function drain(chunks: AsyncIterable<ChatChunk>): Promise<string> {
  let text = '';
  for await (const c of chunks) if (c.type === 'delta') text += c.text ?? '';
  return text;
}

function recordingGate(): TargetGate & { recorded: Array<{ target: Target; outcome: CallOutcome }> } {
  const recorded: Array<{ target: Target; outcome: CallOutcome }> = [];
  return { recorded, admits: () => true, record: (_route, target, outcome) => void recorded.push({ target, outcome }) };
}

describe('target concurrency: config', () => {
  it('shares one pool per provider/model over every route; the smallest setting wins; defaults 0 and 1000 ms', () => {
    const routes = {
      a: routeSchema.parse({ targets: [{ provider: 'p', model: 'm', maxConcurrent: 8, maxQueue: 10 }, { provider: 'q', model: 'm' }] }),
      b: routeSchema.parse({ targets: [{ provider: 'p', model: 'm', maxConcurrent: 4, maxQueueWaitMs: 300 }, { provider: 'p', model: 'other' }] }),
      c: routeSchema.parse({ targets: [{ provider: 'p', model: 'm' }, { provider: 'r', model: 'x', maxConcurrent: 2 }] }),
    };
    expect([...limitsFromRoutes(routes).values()]).toEqual([
      { provider: 'p', model: 'm', maxConcurrent: 4, maxQueue: 10, maxQueueWaitMs: 300 },
      { provider: 'r', model: 'x', maxConcurrent: 2, maxQueue: 0, maxQueueWaitMs: 1_000 },
    ]);
  });

  it('refuses queue settings without maxConcurrent', () => {
    const r = targetSchema.safeParse({ provider: 'p', model: 'm', maxQueue: 3 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['maxQueue']);
    expect(targetSchema.safeParse({ provider: 'p', model: 'm', maxConcurrent: 0 }).success).toBe(false);
  });
});

describe('target concurrency: dispatch', () => {
  it('never runs more than maxConcurrent calls at once under 20 concurrent requests', async () => {
    const a = new HeldProvider('a');
    a.holdMs = 5;
    const { dispatcher, concurrency, metrics } = setup({ chat: { targets: [{ provider: 'a', model: 'm', maxConcurrent: 3, maxQueue: 20, maxQueueWaitMs: 5_000 }] } }, [a]);
    const results = await Promise.all(Array.from({ length: 20 }, () => dispatcher.chat(chatRequest(), signal())));
    expect(results.every((r) => r.target.provider === 'a')).toBe(true);
    expect(a.peak).toBe(3);
    expect(idle(concurrency)).toBe(true);
    const waits = await metrics.registry.getSingleMetricAsString('llm_router_target_queue_wait_seconds');
    expect(waits).toMatch(/llm_router_target_queue_wait_seconds_count\{provider="a",model="m"\} 17/);
  });

  it('queues a request while the slot is taken and serves it when the slot frees', async () => {
    const a = new HeldProvider('a');
    const b = new FakeProvider('b');
    const { dispatcher, concurrency, metrics } = setup({ chat: { targets: [{ provider: 'a', model: 'm', maxConcurrent: 1, maxQueue: 1, maxQueueWaitMs: 5_000 }, { provider: 'b', model: 'm' }] } }, [a, b]);
    const first = dispatcher.chat(chatRequest(), signal());
    await until(() => a.holding === 1);
    const second = dispatcher.chat(chatRequest(), signal());
    await until(() => pool(concurrency).queued === 1);
    expect(await metrics.registry.getSingleMetricAsString('llm_router_target_queue_depth')).toContain('llm_router_target_queue_depth{provider="a",model="m"} 1');
    expect(await metrics.registry.getSingleMetricAsString('llm_router_target_inflight')).toContain('llm_router_target_inflight{provider="a",model="m"} 1');
    a.releaseOne();
    expect((await first).target.provider).toBe('a');
    await until(() => a.holding === 1);
    a.releaseOne();
    const r = await second;
    expect(r.target.provider).toBe('a');
    expect(r.attempts.map((x) => x.outcome)).toEqual(['ok']);
    expect(b.calls).toHaveLength(0);
    expect(idle(concurrency)).toBe(true);
  });

  it('moves on to the next target when the queue is full, recording nothing against the full one', async () => {
    const a = new HeldProvider('a');
    const b = new FakeProvider('b', { ok: 'from b' });
    const gate = recordingGate();
    const { dispatcher, concurrency, metrics } = setup({ chat: { targets: [{ provider: 'a', model: 'm', maxConcurrent: 1 }, { provider: 'b', model: 'm' }] } }, [a, b], gate);
    const first = dispatcher.chat(chatRequest(), signal());
    await until(() => a.holding === 1);
    const r = await dispatcher.chat(chatRequest(), signal());
    expect(r.target.provider).toBe('b');
    expect(r.attempts.map((x) => [x.provider, x.outcome])).toEqual([
      ['a', 'capacity'],
      ['b', 'ok'],
    ]);
    expect(gate.recorded.map((x) => x.target.provider)).toEqual(['b']);
    expect(await metrics.registry.getSingleMetricAsString('llm_router_target_queue_rejections_total')).toContain('{provider="a",model="m",reason="queue_full"} 1');
    expect(await metrics.registry.getSingleMetricAsString('llm_router_fallbacks_total')).toContain('kind="capacity"');
    a.releaseOne();
    await first;
    expect(idle(concurrency)).toBe(true);
  });

  it('moves on when no slot comes free within maxQueueWaitMs', async () => {
    const a = new HeldProvider('a');
    const b = new FakeProvider('b');
    const { dispatcher, concurrency } = setup({ chat: { targets: [{ provider: 'a', model: 'm', maxConcurrent: 1, maxQueue: 5, maxQueueWaitMs: 30 }, { provider: 'b', model: 'm' }] } }, [a, b]);
    const first = dispatcher.chat(chatRequest(), signal());
    await until(() => a.holding === 1);
    const started = performance.now();
    const r = await dispatcher.chat(chatRequest(), signal());
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(r.target.provider).toBe('b');
    expect(r.attempts[0]).toMatchObject({ provider: 'a', outcome: 'capacity' });
    expect(r.attempts[0]!.message).toMatch(/no slot came free within \d+ ms/);
    expect(pool(concurrency).queued).toBe(0);
    a.releaseOne();
    await first;
    expect(idle(concurrency)).toBe(true);
  });

  it('fails with kind capacity and the soonest Retry-After when every target is full (429 at the edge)', async () => {
    const a = new HeldProvider('a');
    const b = new HeldProvider('b');
    const { dispatcher, concurrency } = setup(
      { chat: { targets: [{ provider: 'a', model: 'm', maxConcurrent: 1, maxQueueWaitMs: 4_000 }, { provider: 'b', model: 'm', maxConcurrent: 1, maxQueueWaitMs: 2_000 }] } },
      [a, b],
    );
    const holdA = dispatcher.chat(chatRequest(), signal());
    await until(() => a.holding === 1);
    // a is full now, so this one lands on b and holds it.
    const holdB = dispatcher.chat(chatRequest(), signal());
    await until(() => b.holding === 1);
    const err = (await dispatcher.chat(chatRequest(), signal()).catch((e: unknown) => e)) as RouteError;
    expect(err).toBeInstanceOf(RouteError);
    expect(err.reason).toBe('exhausted');
    expect(err.last).toMatchObject({ kind: 'capacity', retryable: true, retryAfterMs: 2_000 });
    expect(err.attempts.map((x) => x.outcome)).toEqual(['capacity', 'capacity']);
    const wire = toWireError(err);
    expect(wire.status).toBe(429);
    expect(wire.body.error.code).toBe('capacity_exceeded');
    expect(wire.headers?.['retry-after']).toBe('2');
    a.releaseOne();
    b.releaseOne();
    await Promise.all([holdA, holdB]);
    expect(idle(concurrency)).toBe(true);
  });

  it('estimates Retry-After from how long slots are held once it has seen some', async () => {
    const a = new HeldProvider('a');
    a.holdMs = 40;
    const { dispatcher } = setup({ chat: { targets: [{ provider: 'a', model: 'm', maxConcurrent: 1, maxQueueWaitMs: 5_000 }] } }, [a]);
    await dispatcher.chat(chatRequest(), signal());
    const held = dispatcher.chat(chatRequest(), signal());
    await until(() => a.active === 1);
    const err = (await dispatcher.chat(chatRequest(), signal()).catch((e: unknown) => e)) as RouteError;
    expect(err.last?.retryAfterMs).toBeGreaterThanOrEqual(35);
    expect(err.last?.retryAfterMs).toBeLessThan(1_000);
    await held;
  });

  it('gives up the queue on the route deadline (timeout) and on the app leaving (aborted)', async () => {
    const a = new HeldProvider('a');
    const { dispatcher, concurrency } = setup({ chat: { timeoutMs: 40, targets: [{ provider: 'a', model: 'm', maxConcurrent: 1, maxQueue: 2, maxQueueWaitMs: 5_000 }] } }, [a]);
    const first = dispatcher.chat(chatRequest(), signal()).catch((e: unknown) => e);
    await until(() => a.holding === 1);
    const late = (await dispatcher.chat(chatRequest(), signal()).catch((e: unknown) => e)) as RouteError;
    expect(late.last?.kind).toBe('timeout');
    expect(pool(concurrency).queued).toBe(0);
    const ctl = new AbortController();
    const leaving = dispatcher.chat(chatRequest(), ctl.signal).catch((e: unknown) => e);
    await until(() => pool(concurrency).queued === 1);
    ctl.abort();
    expect(await leaving).toMatchObject({ kind: 'aborted' });
    expect(pool(concurrency).queued).toBe(0);
    a.releaseOne();
    await first;
    expect(idle(concurrency)).toBe(true);
  });

  it('releases the slot after a failed call, before the retry backoff', async () => {
    const a = new FakeProvider('a').script({ fail: 'server' });
    const { dispatcher, concurrency } = setup({ chat: { retry: { attempts: 2, baseDelayMs: 1 }, targets: [{ provider: 'a', model: 'm', maxConcurrent: 1 }] } }, [a]);
    const r = await dispatcher.chat(chatRequest(), signal());
    expect(r.attempts.map((x) => x.outcome)).toEqual(['server', 'ok']);
    expect(idle(concurrency)).toBe(true);
  });
});

describe('target concurrency: streams', () => {
  const capped = (steps: FakeStep[] = []) => {
    const a = new FakeProvider('a', { stream: ['one ', 'two ', 'three'] }).script(...steps);
    const b = new FakeProvider('b');
    return { a, b, ...setup({ chat: { targets: [{ provider: 'a', model: 'm', maxConcurrent: 1 }, { provider: 'b', model: 'm' }] } }, [a, b]) };
  };

  it('holds the slot until the stream ends', async () => {
    const { dispatcher, concurrency } = capped();
    const s = await dispatcher.stream(chatRequest({ stream: true }), signal());
    expect(pool(concurrency).inflight).toBe(1);
    // A second stream finds the slot taken and goes to b.
    const other = await dispatcher.stream(chatRequest({ stream: true }), signal());
    expect(other.target.provider).toBe('b');
    await drain(other.stream.chunks);
    expect(pool(concurrency).inflight).toBe(1);
    expect(await drain(s.stream.chunks)).toBe('one two three');
    expect(idle(concurrency)).toBe(true);
  });

  it('releases on a failure after the first chunk', async () => {
    const { dispatcher, concurrency } = capped([{ stream: ['a', 'b'], fail: 'server' }]);
    const s = await dispatcher.stream(chatRequest({ stream: true }), signal());
    await expect(drain(s.stream.chunks)).rejects.toMatchObject({ kind: 'server' });
    expect(idle(concurrency)).toBe(true);
  });

  it('releases on a failure before the first chunk (and falls back)', async () => {
    const { dispatcher, concurrency } = capped([{ fail: 'server' }]);
    const s = await dispatcher.stream(chatRequest({ stream: true }), signal());
    expect(s.target.provider).toBe('b');
    expect(idle(concurrency)).toBe(true);
  });

  it('releases when the app leaves mid-stream, even if nobody reads on', async () => {
    const { dispatcher, concurrency } = capped([{ stream: ['x', 'y', 'z'], delayMs: 20 }]);
    const ctl = new AbortController();
    const s = await dispatcher.stream(chatRequest({ stream: true }), ctl.signal);
    expect(pool(concurrency).inflight).toBe(1);
    ctl.abort();
    expect(idle(concurrency)).toBe(true);
    await drain(s.stream.chunks).catch(() => {});
    expect(idle(concurrency)).toBe(true);
  });

  it('releases when the reader stops early, or returns before reading at all', async () => {
    const { dispatcher, concurrency } = capped();
    const s = await dispatcher.stream(chatRequest({ stream: true }), signal());
    for await (const _ of s.stream.chunks) break;
    expect(idle(concurrency)).toBe(true);
    const t = await dispatcher.stream(chatRequest({ stream: true }), signal());
    expect(pool(concurrency).inflight).toBe(1);
    await t.stream.chunks[Symbol.asyncIterator]().return!();
    expect(idle(concurrency)).toBe(true);
  });

  it('a guarded stream releases its slot and reports its end exactly once, whatever happens', async () => {
    async function* two(fail = false): AsyncIterable<ChatChunk> {
      yield { type: 'delta', index: 0, text: 'a' };
      if (fail) throw new ProviderError({ kind: 'network', provider: 'a', message: 'cut' });
      yield { type: 'finish', index: 0, finish: 'stop' };
    }
    const run = async (how: 'whole' | 'fails' | 'abort-after' | 'return-early' | 'return-unread') => {
      const seen = { released: 0, ok: 0, failed: 0, aborted: 0, over: 0 };
      const ctl = new AbortController();
      const chunks = guardStream(two(how === 'fails'), {
        provider: 'a',
        idleMs: 1000,
        signal: ctl.signal,
        slot: { release: () => void seen.released++ },
        ok: () => void seen.ok++,
        failed: () => void seen.failed++,
        abortUpstream: () => void seen.aborted++,
        over: () => void seen.over++,
      });
      const it = chunks[Symbol.asyncIterator]();
      if (how === 'return-unread') await it.return?.();
      else if (how === 'return-early') {
        await it.next();
        await it.return?.();
        await it.return?.();
      } else {
        await drain(chunks).catch(() => {});
        if (how === 'abort-after') ctl.abort();
      }
      return seen;
    };
    expect(await run('whole')).toEqual({ released: 1, ok: 1, failed: 0, aborted: 0, over: 1 });
    expect(await run('abort-after')).toEqual({ released: 1, ok: 1, failed: 0, aborted: 0, over: 1 });
    expect(await run('fails')).toEqual({ released: 1, ok: 0, failed: 1, aborted: 1, over: 1 });
    expect(await run('return-early')).toEqual({ released: 1, ok: 0, failed: 0, aborted: 1, over: 1 });
    expect(await run('return-unread')).toEqual({ released: 1, ok: 0, failed: 0, aborted: 1, over: 1 });
  });
});

describe('target concurrency: no leaks', () => {
  it('leaves every pool empty after 200 mixed calls (ok, failures, fallbacks, streams, aborts, timeouts)', async () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const kinds: FakeStep[] = [
      { ok: 'fine' },
      { fail: 'server' },
      { fail: 'invalid_request' },
      { stream: ['a', 'b', 'c'], delayMs: 1 },
      { stream: ['a', 'b'], fail: 'network', delayMs: 1 },
    ];
    const pick = () => kinds[Math.floor(rand() * kinds.length)]!;
    class Mixed extends FakeProvider {
      override async chat(req: ChatRequest, target: Target, opts: CallOptions): Promise<ChatResponse> {
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 4)));
        this.script(pick());
        return super.chat(req, target, opts);
      }
      override async stream(req: ChatRequest, target: Target, opts: CallOptions) {
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 4)));
        this.script(pick());
        return super.stream(req, target, opts);
      }
    }
    const a = new Mixed('a');
    const b = new Mixed('b');
    const c = new Mixed('c');
    const { dispatcher, concurrency } = setup(
      {
        chat: {
          retry: { attempts: 2, baseDelayMs: 1 },
          targets: [
            { provider: 'a', model: 'm', maxConcurrent: 2, maxQueue: 3, maxQueueWaitMs: 5 },
            { provider: 'b', model: 'm', maxConcurrent: 3, maxQueue: 1, maxQueueWaitMs: 20 },
            { provider: 'c', model: 'm', maxConcurrent: 1 },
          ],
        },
        other: { targets: [{ provider: 'b', model: 'm', maxConcurrent: 5 }, { provider: 'a', model: 'm' }] },
      },
      [a, b, c],
    );
    let peakA = 0;
    let peakB = 0;
    const watch = setInterval(() => {
      peakA = Math.max(peakA, pool(concurrency, 'a').inflight);
      peakB = Math.max(peakB, pool(concurrency, 'b').inflight);
    }, 1);
    const outcomes = new Map<string, number>();
    const note = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        // Arrivals spread over ~150 ms: bursts that queue and overflow, and quiet spells.
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 150)));
        const route = i % 3 === 0 ? 'other' : 'chat';
        const ctl = new AbortController();
        const r = rand();
        if (r < 0.15) setTimeout(() => ctl.abort(), Math.floor(rand() * 10));
        try {
          if (rand() < 0.5) {
            await dispatcher.chat(chatRequest({ model: route }), ctl.signal);
          } else {
            const s = await dispatcher.stream(chatRequest({ model: route, stream: true }), ctl.signal);
            if (rand() < 0.2) await s.stream.chunks[Symbol.asyncIterator]().return!();
            else await drain(s.stream.chunks);
          }
          note('ok');
        } catch (err) {
          note(err instanceof RouteError ? `route:${err.last?.kind ?? err.reason}` : `error:${(err as { kind?: string }).kind ?? 'other'}`);
        }
      }),
    );
    clearInterval(watch);
    expect(idle(concurrency)).toBe(true);
    expect(peakA).toBeLessThanOrEqual(2);
    expect(peakB).toBeLessThanOrEqual(3);
    // The mix really exercised the paths: successes, capacity refusals and failures (how many
    // of each depends on timer timing, which a loaded machine bunches up).
    expect(outcomes.get('ok')).toBeGreaterThan(0);
    expect(outcomes.get('route:capacity')).toBeGreaterThan(0);
    expect([...outcomes.keys()].filter((k) => k !== 'ok' && k !== 'route:capacity').length).toBeGreaterThan(1);
  });
});
