/**
 * Limits and budgets: before a call, reserve every bucket the request draws from in one atomic
 * step (requests, tokens = prompt + max_tokens, requests in flight, worst-case cost against the
 * key's and the team's budgets); after it, settle with what was really used. The limiter store
 * (memory, or Redis with one Lua script) makes the check and the reservation one operation, so
 * limits are exact across instances.
 */
import type { Identity } from '../identity/types.js';
import type { Budget, BucketSpec, BucketState, LimiterStore, RateLimits } from '../state/types.js';
import { rateLimitHeaders } from './rate-limit-headers.js';

const MINUTE = 60_000;
/** Nano-dollars per USD: budgets are integers, so sums never drift. */
const NANOS = 1e9;

/** Limits a route sets: per key on this route, and a ceiling over all keys. */
export interface RouteLimits {
  perKey?: RateLimits;
  global?: RateLimits;
}

/** What a request asks for, as the policy sees it. */
export interface Demand {
  route: string;
  identity?: Identity;
  routeLimits?: RouteLimits;
  /** The team's budget from the config (budgets.teams), when the identity has a team. */
  teamBudget?: Budget;
  /** Prompt tokens + the max_tokens the call may use. */
  tokens: number;
  /** Worst-case cost in nano-dollars (null: no target of the route has a price). */
  worstCaseNanos: number | null;
}

/** What a bucket limits: requests per minute, tokens per minute, requests in flight, or spend. */
export type LimitKind = 'requests' | 'tokens' | 'inflight' | 'budget';
type Role = LimitKind;

interface PlannedBucket {
  spec: BucketSpec;
  role: Role;
  /** What the refusal says, e.g. "requests per minute of key key_12 (limit 60)". */
  label: string;
  /** For budgets: the key or team it belongs to, and its soft threshold. */
  budget?: { owner: string; budget: Budget };
}

/** The buckets a demand draws from. Pure: unit-tested without a store. */
export function planBuckets(d: Demand): PlannedBucket[] {
  const out: PlannedBucket[] = [];
  const rate = (scope: string, who: string, limits: RateLimits | undefined) => {
    if (!limits) return;
    if (limits.rpm !== undefined) out.push({ role: 'requests', label: `requests per minute of ${who} (limit ${limits.rpm})`, spec: { kind: 'rate', key: `rpm:${scope}`, limit: limits.rpm, windowMs: MINUTE, amount: 1 } });
    if (limits.tpm !== undefined) out.push({ role: 'tokens', label: `tokens per minute of ${who} (limit ${limits.tpm})`, spec: { kind: 'rate', key: `tpm:${scope}`, limit: limits.tpm, windowMs: MINUTE, amount: d.tokens } });
    if (limits.maxInFlight !== undefined) out.push({ role: 'inflight', label: `requests in flight of ${who} (limit ${limits.maxInFlight})`, spec: { kind: 'concurrency', key: `inflight:${scope}`, limit: limits.maxInFlight } });
  };
  const id = d.identity?.keyId;
  if (id !== undefined) {
    rate(`key:${id}`, `key ${id}`, d.identity?.limits);
    rate(`route:${d.route}:key:${id}`, `key ${id} on route '${d.route}'`, d.routeLimits?.perKey);
  }
  rate(`route:${d.route}`, `route '${d.route}'`, d.routeLimits?.global);
  const cost = d.worstCaseNanos ?? 0;
  const budget = (scope: string, who: string, b: Budget | undefined) => {
    if (!b) return;
    out.push({
      role: 'budget',
      label: `the ${b.period === 'total' ? 'total' : `${b.period}ly`} budget of ${who} ($${b.amountUsd})`,
      spec: { kind: 'period', key: `budget:${scope}:${b.period}`, limit: Math.round(b.amountUsd * NANOS), period: b.period, amount: cost },
      budget: { owner: who, budget: b },
    });
  };
  if (id !== undefined) budget(`key:${id}`, `key ${id}`, d.identity?.budget);
  if (d.identity?.team !== undefined) budget(`team:${d.identity.team}`, `team ${d.identity.team}`, d.teamBudget);
  return out;
}

/** A refused request: 429 rate_limit_exceeded (or insufficient_quota for a budget). */
export class LimitRefusal extends Error {
  constructor(
    message: string,
    readonly code: 'rate_limit_exceeded' | 'insufficient_quota',
    readonly retryAfterMs: number,
    readonly headers: Record<string, string>,
    /** The kind of limit that refused it (for metrics). */
    readonly kind: LimitKind = code === 'insufficient_quota' ? 'budget' : 'requests',
  ) {
    super(message);
    this.name = 'LimitRefusal';
  }
}

/** A granted reservation, to settle once the call is over. */
export interface Admission {
  /** Undefined when no bucket applied (nothing to settle). */
  reservation?: string;
  planned: PlannedBucket[];
  /** x-ratelimit-* headers for the answer. */
  headers: Record<string, string>;
}

/** What the call really used. */
export interface Actual {
  /** Prompt + completion tokens really used (0 when the call failed before any answer). */
  tokens: number;
  /** Real cost in nano-dollars (0 when unknown: the usage record says null). */
  costNanos: number;
}

export interface LimitsPolicyDeps {
  limiter: LimiterStore;
  /** Reservations of a crashed instance expire after this (longer than any request). */
  reservationTtlMs: number;
  /** A budget crossed its soft threshold (once per owner and period). */
  onSoftThreshold?(info: { owner: string; budget: Budget; spentUsd: number }): void;
}

function headersOf(planned: PlannedBucket[], states: BucketState[]): Record<string, string> {
  const byKey = new Map(states.map((s) => [s.key, s]));
  const of = (role: Role) => planned.filter((p) => p.role === role).flatMap((p) => byKey.get(p.spec.key) ?? []);
  return rateLimitHeaders(of('requests'), of('tokens'));
}

/** The policy: `admit` before routing, `settle` when the answer is complete (or failed). */
export function createLimitsPolicy(deps: LimitsPolicyDeps) {
  const warned = new Set<string>();
  return {
    /** Reserves every bucket or none; throws LimitRefusal naming the limit hit. */
    async admit(d: Demand): Promise<Admission> {
      const planned = planBuckets(d);
      if (!planned.length) return { planned, headers: {} };
      const r = await deps.limiter.reserve(planned.map((p) => p.spec), { ttlMs: deps.reservationTtlMs });
      const headers = headersOf(planned, r.states);
      if (!r.ok) {
        const hit = planned.find((p) => p.spec.key === r.refused);
        const isBudget = hit?.role === 'budget';
        const retryMs = Math.max(0, Math.ceil(r.retryAfterMs));
        const wait = { 'retry-after': String(Math.max(1, Math.ceil(retryMs / 1000))), 'retry-after-ms': String(retryMs) };
        const message = isBudget
          ? `You exceeded ${hit!.label}; the request needs up to $${((d.worstCaseNanos ?? 0) / NANOS).toFixed(6)}.`
          : hit?.role === 'tokens' && hit.spec.kind === 'rate' && hit.spec.amount > hit.spec.limit
            ? `Rate limit reached: this request needs ${hit.spec.amount} tokens, more than ${hit.label} allows at once; lower max_tokens or the prompt.`
            : `Rate limit reached for ${hit?.label ?? r.refused}. Try again in ${Math.max(1, Math.ceil(retryMs / 1000))}s.`;
        throw new LimitRefusal(message, isBudget ? 'insufficient_quota' : 'rate_limit_exceeded', retryMs, { ...headers, ...wait }, hit?.role ?? 'requests');
      }
      return { reservation: r.reservation, planned, headers };
    },

    /** Corrects the reservation with real usage and frees the in-flight slots. Never throws. */
    async settle(a: Admission, actual: Actual): Promise<void> {
      if (!a.reservation) return;
      const amounts = a.planned.flatMap((p) => {
        if (p.spec.kind === 'concurrency') return [];
        const amount = p.role === 'requests' ? 1 : p.role === 'tokens' ? actual.tokens : actual.costNanos;
        return [{ key: p.spec.key, amount }];
      });
      try {
        await deps.limiter.settle(a.reservation, amounts);
      } catch {
        // The store is down: the reservation expires on its own (reservationTtlMs), charged as reserved.
        return;
      }
      if (!deps.onSoftThreshold) return;
      const budgets = a.planned.filter((p) => p.budget?.budget.softRatio !== undefined);
      if (!budgets.length) return;
      try {
        const states = await deps.limiter.peek(budgets.map((p) => p.spec));
        for (const [i, p] of budgets.entries()) {
          const s = states[i]!;
          const spent = s.limit - s.remaining;
          const key = `${p.spec.key}:${Math.floor((Date.now() + s.resetMs) / 1000)}`;
          if (spent >= s.limit * p.budget!.budget.softRatio! && !warned.has(key)) {
            warned.add(key);
            deps.onSoftThreshold({ owner: p.budget!.owner, budget: p.budget!.budget, spentUsd: spent / NANOS });
          }
        }
      } catch {
        // A soft threshold is a courtesy; a store hiccup must not fail the request.
      }
    },
  };
}

export type LimitsPolicy = ReturnType<typeof createLimitsPolicy>;
