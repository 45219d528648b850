/**
 * A key's current standing against its limits, for `GET /admin/keys/:id` (`usage`): requests
 * and tokens left in the minute, requests in flight, budget spent and left, per route where
 * the route sets per-key limits, and the team's budget. Read with the limiter's `peek`, so
 * looking never reserves anything.
 */
import type { RouteConfig } from '../config/schema.js';
import type { Identity } from '../identity/types.js';
import { TOTAL_PERIOD_RESET_MS } from '../state/buckets.js';
import type { Budget, BucketState, LimiterStore } from '../state/types.js';
import { planBuckets } from './limits-policy.js';

const NANOS = 1e9;

/** One rate bucket as the admin API shows it. */
export interface RateView {
  limit: number;
  remaining: number;
  resetMs: number;
}

/** A budget as the admin API shows it. */
export interface BudgetView {
  amountUsd: number;
  period: Budget['period'];
  spentUsd: number;
  remainingUsd: number;
  /** Time until the period ends (null for a `total` budget, which never resets). */
  resetMs: number | null;
}

/** Request, token and in-flight levels of one scope (the key, or the key on one route). */
export interface LimitsView {
  requests?: RateView;
  tokens?: RateView;
  inFlight?: { limit: number; current: number };
}

export interface KeyUsageView extends LimitsView {
  budget?: BudgetView;
  team?: { name: string; budget?: BudgetView };
  /** Routes with per-key limits: this key's levels there. */
  routes?: Record<string, LimitsView>;
}

/** What the key's record says (a KeyView has these fields). */
export interface KeyLimitsSource {
  id: string;
  team?: string;
  limits?: Identity['limits'];
  budget?: Budget;
}

function budgetView(budget: Budget, s: BucketState): BudgetView {
  const remaining = Math.max(0, s.remaining);
  return {
    amountUsd: budget.amountUsd,
    period: budget.period,
    spentUsd: Math.max(0, s.limit - remaining) / NANOS,
    remainingUsd: remaining / NANOS,
    resetMs: s.resetMs >= TOTAL_PERIOD_RESET_MS ? null : s.resetMs,
  };
}

/** The key's levels now. */
export async function keyUsage(
  limiter: LimiterStore,
  key: KeyLimitsSource,
  opts: { teamBudget?: Budget; routes?: ReadonlyMap<string, RouteConfig> } = {},
): Promise<KeyUsageView> {
  const identity: Identity = { kind: 'key', keyId: key.id, ...(key.team !== undefined ? { team: key.team } : {}), ...(key.limits ? { limits: key.limits } : {}), ...(key.budget ? { budget: key.budget } : {}) };
  const own = planBuckets({ route: '', identity, teamBudget: opts.teamBudget, tokens: 0, worstCaseNanos: 0 });
  const perRoute = [...(opts.routes ?? new Map<string, RouteConfig>())]
    .filter(([, r]) => r.limits?.perKey)
    .map(([name, r]) => ({ name, planned: planBuckets({ route: name, identity: { kind: 'key', keyId: key.id }, routeLimits: { perKey: r.limits!.perKey }, tokens: 0, worstCaseNanos: 0 }) }));
  const all = [...own, ...perRoute.flatMap((r) => r.planned)];
  const states = all.length ? await limiter.peek(all.map((p) => p.spec)) : [];
  const byKey = new Map(states.map((s, i) => [all[i]!.spec.key, s] as const));

  const limitsOf = (planned: typeof own): LimitsView => {
    const out: LimitsView = {};
    for (const p of planned) {
      const s = byKey.get(p.spec.key);
      if (!s) continue;
      if (p.role === 'requests') out.requests = { limit: s.limit, remaining: s.remaining, resetMs: s.resetMs };
      else if (p.role === 'tokens') out.tokens = { limit: s.limit, remaining: s.remaining, resetMs: s.resetMs };
      else if (p.role === 'inflight') out.inFlight = { limit: s.limit, current: Math.max(0, s.limit - s.remaining) };
    }
    return out;
  };

  const view: KeyUsageView = limitsOf(own);
  for (const p of own) {
    const s = byKey.get(p.spec.key);
    if (p.role !== 'budget' || !s || !p.budget) continue;
    if (p.spec.key.startsWith('budget:team:')) view.team = { name: key.team!, budget: budgetView(p.budget.budget, s) };
    else view.budget = budgetView(p.budget.budget, s);
  }
  if (key.team !== undefined && !view.team) view.team = { name: key.team };
  if (perRoute.length) view.routes = Object.fromEntries(perRoute.map((r) => [r.name, limitsOf(r.planned)]));
  return view;
}
