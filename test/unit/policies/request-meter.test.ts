import { describe, expect, it, vi } from 'vitest';
import { createPriceBook } from '../../../src/accounting/prices.js';
import { routeSchema, type RouteConfig } from '../../../src/config/schema.js';
import type { ChatRequest } from '../../../src/core/chat-request.js';
import type { Identity } from '../../../src/identity/types.js';
import { createBudgetNotifier } from '../../../src/policies/budget-webhook.js';
import { keyUsage } from '../../../src/policies/key-usage.js';
import { createLimitsPolicy, LimitRefusal } from '../../../src/policies/limits-policy.js';
import { createRequestMeter, formatUsd, maxCompletionTokens } from '../../../src/policies/request-meter.js';
import { MemoryLimiter } from '../../../src/state/memory/memory-limiter.js';
import type { UsageRecord } from '../../../src/state/types.js';

const prices = createPriceBook({
  table: { updated: '2026-01-01', source: 'test', models: { cheap: { input: 1, output: 2 }, dear: { input: 10, output: 20 } } },
});
const kinds: Record<string, string> = { p: 'openai', local: 'llama-cpp' };

function setup(opts: { teams?: Record<string, { amountUsd: number; period: 'day' | 'month' | 'total' }> } = {}) {
  const limiter = new MemoryLimiter();
  const settle = vi.spyOn(limiter, 'settle');
  const limits = createLimitsPolicy({ limiter, reservationTtlMs: 60_000 });
  const records: UsageRecord[] = [];
  const metrics = { recordUsage: vi.fn(), limitRefused: vi.fn(), budgetUse: vi.fn() };
  const meter = createRequestMeter({
    limits: () => limits,
    prices: () => prices,
    providerKind: (id) => kinds[id],
    teamBudget: (t) => opts.teams?.[t],
    usage: () => ({ append: (r: UsageRecord) => void records.push(r), query: async function* () {}, flush: async () => {}, close: async () => {} }),
    limiter: () => limiter,
    metrics,
    logger: { warn: () => {} },
  });
  return { limiter, settle, meter, records, metrics };
}

const chat = (over: Partial<ChatRequest> = {}, params: ChatRequest['params'] = {}): ChatRequest => ({
  model: 'r',
  messages: [{ role: 'user', content: 'hello there, how are you today?' }],
  params,
  stream: false,
  includeUsage: false,
  passthrough: {},
  meta: { requestId: 'req-1', receivedAt: performance.now() },
  ...over,
});
const route = (over: Record<string, unknown> = {}): RouteConfig => routeSchema.parse({ targets: [{ provider: 'p', model: 'cheap' }], ...over });
const key = (over: Partial<Identity> = {}): Identity => ({ kind: 'key', keyId: 'k1', ...over });
const begin = (m: ReturnType<typeof setup>['meter'], identity: Identity) => m.begin({ requestId: 'req-1', identity, receivedAt: performance.now() });

describe('request meter', () => {
  it('settles exactly once, with the usage reported, priced by the target that served', async () => {
    const { meter, settle, records } = setup();
    const u = begin(meter, key({ limits: { rpm: 10 } }));
    await u.admit(chat(), route({ targets: [{ provider: 'p', model: 'cheap' }, { provider: 'p', model: 'dear' }] }));
    expect(u.headers()['x-ratelimit-limit-requests']).toBe('10');
    const usage = { promptTokens: 1000, completionTokens: 500, totalTokens: 1500 };
    // Served by the fallback "dear": $10/1M in, $20/1M out.
    const done = await u.finish({ outcome: 'ok', target: { provider: 'p', model: 'dear' }, usage });
    expect(done).toMatchObject({ tokens: { prompt: 1000, completion: 500 }, costNanos: 20_000_000, record: { outcome: 'ok', tokens: { prompt: 1000, completion: 500 } } });
    expect(await u.finish({ outcome: 'ok' })).toBeUndefined();
    expect(settle).toHaveBeenCalledTimes(1);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ requestId: 'req-1', keyId: 'k1', route: 'r', provider: 'p', model: 'dear', costUsd: 0.02, outcome: 'ok', stream: false, traffic: 'live' });
    expect(formatUsd(20_000_000)).toBe('0.02');
    expect(formatUsd(7)).toBe('0.000000007');
    expect(formatUsd(0)).toBe('0');
  });

  it('frees the in-flight slot of a failed request, charging nothing', async () => {
    const { meter, records } = setup();
    const id = key({ limits: { maxInFlight: 1 } });
    const first = begin(meter, id);
    await first.admit(chat(), route());
    await expect(begin(meter, id).admit(chat(), route())).rejects.toBeInstanceOf(LimitRefusal);
    await first.finish({ outcome: 'server' });
    expect(records.at(-1)).toMatchObject({ outcome: 'server', tokens: { prompt: 0, completion: 0 }, costUsd: 0 });
    await expect(begin(meter, id).admit(chat(), route())).resolves.toBeUndefined();
  });

  it('charges an abandoned stream its prompt and what was streamed, counted', async () => {
    const { meter, settle, records } = setup();
    const u = begin(meter, key({ limits: { tpm: 100_000 } }));
    await u.admit(chat({ stream: true }), route());
    await u.finish({ outcome: 'client_closed', target: { provider: 'p', model: 'cheap' }, streamedText: 'one two three four' });
    const r = records[0]!;
    expect(r.tokens.prompt).toBeGreaterThan(5);
    expect(r.tokens.completion).toBe(4);
    expect(r.costUsd).toBeGreaterThan(0);
    expect(settle.mock.calls[0]![1]).toEqual([{ key: 'tpm:key:k1', amount: r.tokens.prompt + 4 }]);
  });

  it('says null for a model without a price, and 0 for a local one', async () => {
    const { meter, records } = setup();
    await begin(meter, key()).finish({ outcome: 'ok', target: { provider: 'p', model: 'nobody-knows' }, usage: { promptTokens: 5, completionTokens: 5, totalTokens: 10 } });
    await begin(meter, key()).finish({ outcome: 'ok', target: { provider: 'local', model: 'tiny' }, usage: { promptTokens: 5, completionTokens: 5, totalTokens: 10 } });
    expect(records.map((r) => r.costUsd)).toEqual([null, 0]);
  });

  it('reserves the worst case over every target of the route against budgets', async () => {
    // 2 targets; the dear one makes a 10-token prompt + 100 output cost up to ~$0.0021.
    const { meter, metrics } = setup({ teams: { t: { amountUsd: 0.001, period: 'day' } } });
    const r = route({ targets: [{ provider: 'p', model: 'cheap' }, { provider: 'p', model: 'dear' }] });
    const u = begin(meter, key({ team: 't' }));
    const refusal = await u.admit(chat({}, { maxTokens: 100 }), r).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(LimitRefusal);
    expect(refusal).toMatchObject({ code: 'insufficient_quota', kind: 'budget' });
    await u.finish({ outcome: 'insufficient_quota', limitKind: 'budget' });
    expect(metrics.limitRefused).toHaveBeenCalledWith('r', 'budget');
    // On the cheap target alone it fits.
    await expect(begin(meter, key({ team: 't' })).admit(chat({}, { maxTokens: 100 }), route())).resolves.toBeUndefined();
  });

  it('reserves max_tokens, else the route default, else the cap, for each choice', () => {
    expect(maxCompletionTokens(chat({}, { maxTokens: 50 }), route())).toBe(50);
    expect(maxCompletionTokens(chat(), route({ defaultMaxTokens: 300 }))).toBe(300);
    expect(maxCompletionTokens(chat(), route())).toBe(32_768);
    expect(maxCompletionTokens(chat({}, { maxTokens: 50, n: 3 }), route())).toBe(150);
    expect(maxCompletionTokens(chat({}, { maxTokens: 99_999 }), route({ caps: { maxTokens: 1000 } }))).toBe(1000);
  });
});

describe('key usage view', () => {
  it('shows what is left of each limit and budget, without reserving', async () => {
    const limiter = new MemoryLimiter();
    const limits = createLimitsPolicy({ limiter, reservationTtlMs: 60_000 });
    const identity = key({ limits: { rpm: 5, maxInFlight: 2 }, budget: { amountUsd: 1, period: 'month' } });
    const a = await limits.admit({ route: 'r', identity, tokens: 0, worstCaseNanos: 250_000_000 });
    const view = await keyUsage(limiter, { id: 'k1', limits: identity.limits, budget: identity.budget });
    expect(view.requests).toMatchObject({ limit: 5, remaining: 4 });
    expect(view.inFlight).toEqual({ limit: 2, current: 1 });
    expect(view.budget).toMatchObject({ amountUsd: 1, period: 'month', spentUsd: 0.25, remainingUsd: 0.75 });
    await limits.settle(a, { tokens: 0, costNanos: 100_000_000 });
    expect((await keyUsage(limiter, { id: 'k1', limits: identity.limits, budget: identity.budget })).budget).toMatchObject({ spentUsd: 0.1, remainingUsd: 0.9 });
  });
});

describe('budget webhook', () => {
  it('POSTs a notice with a timeout, and only logs a failure', async () => {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const warn = vi.fn();
    const notify = createBudgetNotifier({
      url: () => 'https://hooks.example.com/budget?token=secret-token',
      logger: { warn },
      fetch: (async (url: string, init: RequestInit) => {
        calls.push({ url, init });
        return new Response('nope', { status: 500 });
      }) as unknown as typeof fetch,
    });
    await notify({ owner: 'team payments', budget: { amountUsd: 100, period: 'month', softRatio: 0.8 }, spentUsd: 81 });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.init.signal).toBeInstanceOf(AbortSignal);
    expect(JSON.parse(String(calls[0]!.init.body))).toMatchObject({ event: 'budget.soft_threshold', scope: 'team', owner: 'payments', period: 'month', amountUsd: 100, softRatio: 0.8, spentUsd: 81 });
    const refused = warn.mock.calls.find((c) => c[1] === 'budget webhook refused the notice')!;
    expect(refused[0]).toMatchObject({ status: 500 });
    // The log names the webhook without its query (which may hold a token).
    expect(JSON.stringify(warn.mock.calls)).not.toContain('secret-token');
  });
});
