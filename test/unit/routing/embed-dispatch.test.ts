import { describe, expect, it } from 'vitest';
import { routeSchema } from '../../../src/config/schema.js';
import { ProviderError, type ProviderErrorKind } from '../../../src/core/provider-error.js';
import type { CallOptions, EmbedRequest, EmbedResponse, Provider, Target } from '../../../src/core/provider.js';
import { createDispatcher } from '../../../src/routing/dispatcher.js';
import { embedUsage } from '../../../src/routing/embed-dispatch.js';
import { RouteError } from '../../../src/routing/route-error.js';
import type { CallOutcome, TargetGate } from '../../../src/routing/target-gate.js';
import { FakeProvider } from '../../fixtures/fake-provider.js';
import { chatRequest } from '../../fixtures/requests.js';

type Step = { ok: true; size?: number } | { fail: ProviderErrorKind } | { hang: true };

/** A provider that embeds each input as a vector of `size` values (its size unless scripted otherwise). */
class EmbedFake extends FakeProvider {
  readonly embedCalls: Array<{ target: Target; req: EmbedRequest }> = [];
  private embedSteps: Step[] = [];

  constructor(id: string, readonly size = 4) {
    super(id);
  }

  plan(...steps: Step[]): this {
    this.embedSteps.push(...steps);
    return this;
  }

  embeddingDimensions(): number {
    return this.size;
  }

  async embed(req: EmbedRequest, target: Target, opts: CallOptions): Promise<EmbedResponse> {
    this.embedCalls.push({ target, req });
    const step = this.embedSteps.shift() ?? { ok: true };
    if ('hang' in step) {
      return new Promise((_, reject) => opts.signal.addEventListener('abort', () => reject(new ProviderError({ kind: 'aborted', provider: this.id, message: 'aborted' }))));
    }
    if ('fail' in step) throw new ProviderError({ kind: step.fail, provider: this.id, message: `${this.id}: scripted ${step.fail}` });
    const size = step.size ?? req.dimensions ?? this.size;
    return { model: `${target.model}-real`, vectors: req.inputs.map(() => new Float32Array(size).fill(1 / Math.sqrt(size))), usage: { promptTokens: 3, totalTokens: 3 } };
  }
}

const signal = () => new AbortController().signal;
const embedReq = (extra: Partial<EmbedRequest> = {}): EmbedRequest => ({ model: 'embed', inputs: ['a', 'b'], meta: { requestId: 't', receivedAt: 0 }, ...extra });

function setup(route: Record<string, unknown>, providers: Provider[], gate?: TargetGate) {
  return createDispatcher({
    routes: { embed: routeSchema.parse({ kind: 'embeddings', ...route }), chat: routeSchema.parse({ targets: [{ provider: providers[0]!.id, model: 'm' }] }) },
    providers: new Map(providers.map((p) => [p.id, p])),
    disabled: new Map(),
    random: () => 0,
    ...(gate ? { gate } : {}),
  });
}

async function routeError(p: Promise<unknown>): Promise<RouteError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(RouteError);
  return err as RouteError;
}

const two = { targets: [{ provider: 'a', model: 'm' }, { provider: 'b', model: 'm' }] };

describe('dispatcher embed()', () => {
  it('answers from the first target', async () => {
    const a = new EmbedFake('a');
    const r = await setup({ targets: [{ provider: 'a', model: 'm' }] }, [a]).embed(embedReq(), signal());
    expect(r.target).toEqual({ provider: 'a', model: 'm' });
    expect(r.response.vectors).toHaveLength(2);
    expect(r.attempts).toMatchObject([{ provider: 'a', outcome: 'ok' }]);
  });

  it.each(['server', 'timeout', 'rate_limit', 'network'] as const)('falls back on %s', async (kind) => {
    const a = new EmbedFake('a').plan({ fail: kind });
    const b = new EmbedFake('b');
    const r = await setup(two, [a, b]).embed(embedReq(), signal());
    expect(r.target.provider).toBe('b');
    expect(r.attempts.map((x) => x.outcome)).toEqual([kind, 'ok']);
  });

  it('retries a target as the route says', async () => {
    const a = new EmbedFake('a').plan({ fail: 'server' });
    const r = await setup({ ...two, retry: { attempts: 2, baseDelayMs: 1 } }, [a, new EmbedFake('b')]).embed(embedReq(), signal());
    expect(r.target.provider).toBe('a');
    expect(a.embedCalls).toHaveLength(2);
  });

  it('does not fall back on the caller’s own mistake', async () => {
    const a = new EmbedFake('a').plan({ fail: 'invalid_request' });
    const b = new EmbedFake('b');
    const err = await routeError(setup(two, [a, b]).embed(embedReq(), signal()));
    expect(err.last?.kind).toBe('invalid_request');
    expect(b.embedCalls).toHaveLength(0);
  });

  it('moves on from a target that ignores dimensions', async () => {
    const a = new EmbedFake('a').plan({ ok: true, size: 4 });
    const b = new EmbedFake('b');
    const r = await setup(two, [a, b]).embed(embedReq({ dimensions: 2 }), signal());
    expect(r.target.provider).toBe('b');
    expect(r.response.vectors[0]).toHaveLength(2);
    expect(r.attempts[0]).toMatchObject({ outcome: 'invalid_request' });
    expect(r.attempts[0]!.message).toMatch(/does not support 'dimensions'/);
  });

  it('refuses answers of another size than the target’s configured dimensions', async () => {
    const a = new EmbedFake('a', 8);
    const b = new EmbedFake('b', 4);
    const route = { targets: [{ provider: 'a', model: 'm', dimensions: 4 }, { provider: 'b', model: 'm', dimensions: 4 }] };
    const r = await setup(route, [a, b]).embed(embedReq(), signal());
    expect(r.target.provider).toBe('b');
    expect(r.attempts[0]).toMatchObject({ outcome: 'server' });
    expect(r.attempts[0]!.message).toMatch(/answered 8-dimensional vectors, not 4/);
  });

  it('refuses a chat route for embeddings, and an embeddings route for chat, naming model', async () => {
    const a = new EmbedFake('a');
    const d = setup({ targets: [{ provider: 'a', model: 'm' }] }, [a]);
    const err = await routeError(d.embed(embedReq({ model: 'chat' }), signal()));
    expect(err).toMatchObject({ reason: 'invalid_request', param: 'model' });
    expect(err.message).toMatch(/chat route/);
    const chat = await routeError(d.chat(chatRequest({ model: 'embed' }), signal()));
    expect(chat).toMatchObject({ reason: 'invalid_request', param: 'model' });
    expect(chat.message).toMatch(/embeddings route/);
    expect((await routeError(d.embed(embedReq({ model: 'nope' }), signal()))).reason).toBe('unknown_route');
    expect(a.calls).toHaveLength(0);
  });

  it('skips providers that serve no embeddings', async () => {
    const chatOnly = new FakeProvider('a');
    const err = await routeError(setup({ targets: [{ provider: 'a', model: 'm' }] }, [chatOnly]).embed(embedReq(), signal()));
    expect(err.reason).toBe('no_capable_target');
    expect(err.message).toMatch(/serves no embeddings/);
  });

  it('honours the target’s concurrency cap: a busy target is skipped for the next', async () => {
    const a = new EmbedFake('a').plan({ hang: true });
    const b = new EmbedFake('b');
    const d = setup({ targets: [{ provider: 'a', model: 'm', maxConcurrent: 1 }, { provider: 'b', model: 'm' }] }, [a, b]);
    const ctl = new AbortController();
    const hanging = d.embed(embedReq(), ctl.signal).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 5));
    const r = await d.embed(embedReq(), signal());
    expect(r.target.provider).toBe('b');
    expect(r.attempts[0]).toMatchObject({ provider: 'a', outcome: 'capacity' });
    ctl.abort();
    await hanging;
  });

  it('times out at the route deadline', async () => {
    const a = new EmbedFake('a').plan({ hang: true });
    const err = await routeError(setup({ targets: [{ provider: 'a', model: 'm' }], timeoutMs: 20 }, [a]).embed(embedReq(), signal()));
    expect(err.last?.kind).toBe('timeout');
  });

  it('asks the gate, records outcomes, and mirrors a sample to a target on probation', async () => {
    const records: Array<{ target: string; outcome: CallOutcome }> = [];
    const gate: TargetGate = {
      // "a" is on probation: admitted only as a last resort.
      admits: (_route, t, opts) => t.provider !== 'a' || opts?.lastResort === true,
      record: (_route, t, outcome) => void records.push({ target: t.provider, outcome }),
    };
    const a = new EmbedFake('a');
    const b = new EmbedFake('b');
    const r = await setup({ ...two, shadow: { sampleRate: 1 } }, [a, b], gate).embed(embedReq(), signal());
    expect(r.target.provider).toBe('b');
    await new Promise((res) => setTimeout(res, 5));
    expect(a.embedCalls).toHaveLength(1);
    expect(records.map((x) => [x.target, x.outcome.ok])).toEqual([['b', true], ['a', true]]);
  });

  it('serves from a target on probation when nothing else may', async () => {
    const gate: TargetGate = { admits: (_r, _t, opts) => opts?.lastResort === true, record: () => {} };
    const r = await setup({ targets: [{ provider: 'a', model: 'm' }] }, [new EmbedFake('a')], gate).embed(embedReq(), signal());
    expect(r.target.provider).toBe('a');
  });

  it('estimates usage the upstream did not report', () => {
    const res = { model: 'm', vectors: [] };
    expect(embedUsage(embedReq({ inputs: [[1, 2, 3], [4]] }), res)).toEqual({ promptTokens: 4, totalTokens: 4 });
    expect(embedUsage(embedReq({ inputs: ['a few words here'] }), res).promptTokens).toBeGreaterThan(0);
    expect(embedUsage(embedReq(), { ...res, usage: { promptTokens: 9, totalTokens: 9 } })).toEqual({ promptTokens: 9, totalTokens: 9 });
  });
});
