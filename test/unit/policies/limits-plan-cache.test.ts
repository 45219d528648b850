import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Identity } from '../../../src/identity/types.js';
import { createLimitsPolicy, planBuckets, type Demand } from '../../../src/policies/limits-policy.js';
import type { BucketSpec, LimiterStore, ReserveResult } from '../../../src/state/types.js';

/**
 * The policy builds a (route, key)'s buckets once and reuses them: whatever sequence of demands
 * arrives (limits edited between requests, budgets changed, teams moved, amounts varying), each
 * admission must reserve exactly what planBuckets says for that demand alone.
 */
function recordingLimiter(): LimiterStore & { reserved: BucketSpec[][] } {
  const reserved: BucketSpec[][] = [];
  return {
    reserved,
    async reserve(specs: BucketSpec[]): Promise<ReserveResult> {
      reserved.push(structuredClone(specs));
      return { ok: true, reservation: `r${reserved.length}`, states: specs.map((s) => ({ key: s.key, limit: s.kind === 'concurrency' ? s.limit : s.limit, remaining: 1, resetMs: 1000 })) };
    },
    async settle() {},
    async peek() {
      return [];
    },
  } as unknown as LimiterStore & { reserved: BucketSpec[][] };
}

const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const rate = fc.record({ rpm: maybe(fc.constantFrom(1, 5, 60)), tpm: maybe(fc.constantFrom(100, 1000)), maxInFlight: maybe(fc.constantFrom(1, 4)) }, { requiredKeys: [] });
const budget = fc.record({ amountUsd: fc.constantFrom(1, 2.5, 10), period: fc.constantFrom('day' as const, 'month' as const, 'total' as const), softRatio: maybe(fc.constantFrom(0.5, 0.8)) }, { requiredKeys: ['amountUsd', 'period'] });
const demand: fc.Arbitrary<Demand> = fc.record({
  route: fc.constantFrom('a', 'b'),
  identity: fc.record({ keyId: fc.constantFrom('k1', 'k2'), limits: maybe(rate), budget: maybe(budget), team: maybe(fc.constantFrom('t1', 't2')) }, { requiredKeys: ['keyId'] }).map((i) => ({ kind: 'key', ...i }) as Identity),
  routeLimits: maybe(fc.record({ perKey: maybe(rate), global: maybe(rate) }, { requiredKeys: [] })),
  teamBudget: maybe(budget),
  tokens: fc.constantFrom(0, 10, 500),
  worstCaseNanos: fc.oneof(fc.constant(null), fc.constantFrom(0, 1_000, 5_000_000)),
}) as fc.Arbitrary<Demand>;

/** Leaf paths of a demand: an edit copies one of them from another random demand. */
const PATHS = [
  'route', 'tokens', 'worstCaseNanos', 'teamBudget', 'identity.keyId', 'identity.team',
  'identity.limits.rpm', 'identity.limits.tpm', 'identity.limits.maxInFlight',
  'identity.budget', 'identity.budget.amountUsd', 'identity.budget.period', 'identity.budget.softRatio',
  'routeLimits.perKey.rpm', 'routeLimits.perKey.tpm', 'routeLimits.perKey.maxInFlight',
  'routeLimits.global.rpm', 'routeLimits.global.tpm', 'routeLimits.global.maxInFlight',
  'teamBudget.amountUsd', 'teamBudget.period', 'teamBudget.softRatio',
];
type Loose = Record<string, unknown>;
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
function edit(d: Demand, path: string, from: Demand): Demand {
  const out = structuredClone(d) as unknown as Loose;
  const parts = path.split('.');
  let src: unknown = from;
  for (const p of parts) src = (src as Loose | undefined)?.[p];
  let dst = out;
  for (const p of parts.slice(0, -1)) dst = (dst[p] ??= p === 'budget' || p === 'teamBudget' ? { amountUsd: 1, period: 'day' } : {}) as Loose;
  // Absent stays absent (as a config or a key record leaves it), and a budget stays whole.
  if (src === undefined) delete dst[parts.at(-1)!];
  else dst[parts.at(-1)!] = structuredClone(src);
  for (const b of [out.teamBudget, (out.identity as Loose).budget] as Array<Loose | undefined>) {
    if (b) {
      b.amountUsd ??= 1;
      b.period ??= 'day';
    }
  }
  return out as unknown as Demand;
}
/** A demand, then one-field edits of it: a cached plan is most at risk when only one input moves. */
const sequence = fc.tuple(demand, fc.array(fc.tuple(fc.constantFrom(...PATHS), demand), { minLength: 1, maxLength: 12 })).map(([first, edits]) => {
  const out = [first];
  for (const [path, from] of edits) out.push(edit(out.at(-1)!, path, from));
  return out;
});

describe('limits policy: cached bucket plans', () => {
  it('reserves exactly what planBuckets plans, over any sequence of demands', async () => {
    await fc.assert(
      fc.asyncProperty(sequence, async (ds) => {
        const limiter = recordingLimiter();
        const policy = createLimitsPolicy({ limiter, reservationTtlMs: 60_000 });
        let reserves = 0;
        for (const d of ds) {
          const want = planBuckets(structuredClone(d));
          const a = await policy.admit(d);
          // Through JSON: a budget's `softRatio: undefined` and an absent one are the same budget.
          expect(plain(a.planned)).toStrictEqual(plain(want));
          if (want.length) expect(plain(limiter.reserved[reserves++])).toStrictEqual(plain(want.map((p) => p.spec)));
        }
        expect(limiter.reserved.length).toBe(reserves);
      }),
      { numRuns: 500 },
    );
  });

  it('a limit edited between two requests of one key takes effect on the next', async () => {
    const limiter = recordingLimiter();
    const policy = createLimitsPolicy({ limiter, reservationTtlMs: 60_000 });
    const identity: Identity = { kind: 'key', keyId: 'k', limits: { rpm: 5 } };
    await policy.admit({ route: 'r', identity, tokens: 0, worstCaseNanos: null });
    identity.limits!.rpm = 7;
    const a = await policy.admit({ route: 'r', identity, tokens: 0, worstCaseNanos: null });
    expect(a.planned.map((p) => p.spec)).toStrictEqual([{ kind: 'rate', key: 'rpm:key:k', limit: 7, windowMs: 60_000, amount: 1 }]);
    expect(a.headers['x-ratelimit-limit-requests']).toBe('7');
  });
});
