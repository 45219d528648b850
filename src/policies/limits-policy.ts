/**
 * Limits and budgets: before a call, reserve every bucket the request draws from in one atomic
 * step (requests, tokens = prompt + max_tokens, requests in flight, worst-case cost against the
 * key's and the team's budgets); after it, settle with what was really used. The limiter store
 * (memory, or Redis with one Lua script) makes the check and the reservation one operation, so
 * limits are exact across instances.
 */
import type { Identity } from '../identity/types.js';
import type { Budget, BucketSpec, BucketState, LimiterStore, RateLimits } from '../state/types.js';
import { rateLimitHeadersOf, tighter } from './rate-limit-headers.js';

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

/**
 * x-ratelimit-* headers from the tightest request and token bucket. A loop rather than a Map of
 * the states and filtered arrays: it runs on every admitted request. Stores answer `states` in
 * the order of the specs (keys are unique within a call), so `states[i]` is normally the one;
 * the search is the fallback.
 */
function headersOf(planned: readonly PlannedBucket[], states: readonly BucketState[]): Record<string, string> {
  let requests: BucketState | undefined;
  let tokens: BucketState | undefined;
  for (let i = 0; i < planned.length; i++) {
    const p = planned[i]!;
    if (p.role !== 'requests' && p.role !== 'tokens') continue;
    const key = p.spec.key;
    let s = states[i]?.key === key ? states[i] : undefined;
    if (!s) for (const c of states) if (c.key === key) s = c;
    if (!s) continue;
    if (p.role === 'requests') requests = tighter(requests, s);
    else tokens = tighter(tokens, s);
  }
  return rateLimitHeadersOf(requests, tokens);
}

/**
 * What `planBuckets` returned for one (route, key) and the inputs it read, except the amounts.
 * A request's plan differs from another's of the same inputs only in the amounts of its token
 * and budget buckets (keys, limits and labels do not depend on them), so the plan is built
 * once per shape (keys and labels are strings built once, not per request) and a request
 * only fills in its amounts. The inputs are compared by value, never by object identity:
 * identities are fresh objects per request, and a config reload or a key edit that changes a
 * limit is a different shape, whatever objects carry it.
 */
interface Shape {
  /** planBuckets' answer for the first demand of this shape; frozen, shared by every admission of it. */
  planned: readonly PlannedBucket[];
  specs: readonly BucketSpec[];
  /** Some bucket's amount depends on the demand (tokens per minute, budgets). */
  variable: boolean;
  /** The inputs, flattened: key limits, per-key route limits, route limits, key budget, team, team budget. */
  inputs: readonly unknown[];
}

/** Distinct (route, key) shapes kept; past it the cache starts over (JWT subjects are unbounded). */
const MAX_SHAPES = 10_000;

/** Every input of planBuckets but the route, the key id and the amounts, in a fixed order. */
function inputsOf(d: Demand): unknown[] {
  const out: unknown[] = [];
  pushInputs(out, d);
  return out;
}
function pushInputs(out: unknown[], d: Demand): void {
  const id = d.identity;
  const l = id?.limits;
  const k = d.routeLimits?.perKey;
  const g = d.routeLimits?.global;
  out.push(l?.rpm, l?.tpm, l?.maxInFlight, k?.rpm, k?.tpm, k?.maxInFlight, g?.rpm, g?.tpm, g?.maxInFlight);
  pushBudget(out, id?.budget);
  out.push(id?.team);
  pushBudget(out, d.teamBudget);
}
function pushBudget(out: unknown[], b: Budget | undefined): void {
  out.push(b !== undefined, b?.amountUsd, b?.period, b?.softRatio);
}

/** Whether a demand has the inputs a shape was built from (same order as pushInputs; no allocation). */
function sameInputs(s: readonly unknown[], d: Demand): boolean {
  const id = d.identity;
  const l = id?.limits;
  const k = d.routeLimits?.perKey;
  const g = d.routeLimits?.global;
  return (
    s[0] === l?.rpm && s[1] === l?.tpm && s[2] === l?.maxInFlight &&
    s[3] === k?.rpm && s[4] === k?.tpm && s[5] === k?.maxInFlight &&
    s[6] === g?.rpm && s[7] === g?.tpm && s[8] === g?.maxInFlight &&
    sameBudget(s, 9, id?.budget) && s[13] === id?.team && sameBudget(s, 14, d.teamBudget)
  );
}
function sameBudget(s: readonly unknown[], at: number, b: Budget | undefined): boolean {
  return s[at] === (b !== undefined) && s[at + 1] === b?.amountUsd && s[at + 2] === b?.period && s[at + 3] === b?.softRatio;
}

/** A shape from planBuckets, frozen so that sharing it between requests stays safe. */
function shapeOf(d: Demand): Shape {
  const planned = planBuckets(d).map((p) =>
    Object.freeze({
      ...p,
      spec: Object.freeze(p.spec),
      // A copy: the caller's budget object (an identity's, the config's) is not ours to freeze.
      ...(p.budget ? { budget: Object.freeze({ owner: p.budget.owner, budget: Object.freeze({ ...p.budget.budget }) }) } : {}),
    }),
  );
  return {
    planned: Object.freeze(planned),
    specs: Object.freeze(planned.map((p) => p.spec)),
    variable: planned.some((p) => isVariable(p)),
    inputs: Object.freeze(inputsOf(d)),
  };
}

/** Token and budget buckets take the demand's amounts; request and in-flight buckets never vary. */
const isVariable = (p: PlannedBucket): boolean => (p.role === 'tokens' && p.spec.kind === 'rate') || (p.role === 'budget' && p.spec.kind === 'period');

/** The plan of a demand from its shape: the shape's own arrays when no amount differs, else copies of the buckets whose amount does. */
function instantiate(shape: Shape, d: Demand): { planned: readonly PlannedBucket[]; specs: readonly BucketSpec[] } {
  if (!shape.variable) return shape;
  const cost = d.worstCaseNanos ?? 0;
  let planned: PlannedBucket[] | undefined;
  let specs: BucketSpec[] | undefined;
  for (let i = 0; i < shape.planned.length; i++) {
    const t = shape.planned[i]!;
    let p = t;
    // Same literals (and key order) as planBuckets builds.
    if (t.role === 'tokens' && t.spec.kind === 'rate' && t.spec.amount !== d.tokens) {
      p = { role: t.role, label: t.label, spec: { kind: 'rate', key: t.spec.key, limit: t.spec.limit, windowMs: t.spec.windowMs, amount: d.tokens } };
    } else if (t.role === 'budget' && t.spec.kind === 'period' && t.spec.amount !== cost) {
      p = { role: t.role, label: t.label, spec: { kind: 'period', key: t.spec.key, limit: t.spec.limit, period: t.spec.period, amount: cost }, budget: t.budget! };
    }
    if (p !== t && !planned) {
      planned = shape.planned.slice(0, i);
      specs = shape.specs.slice(0, i);
    }
    if (planned) {
      planned.push(p);
      specs!.push(p.spec);
    }
  }
  return planned ? { planned, specs: specs! } : shape;
}

const hasSoftThreshold = (p: PlannedBucket): boolean => p.budget?.budget.softRatio !== undefined;

/** The policy: `admit` before routing, `settle` when the answer is complete (or failed). */
export function createLimitsPolicy(deps: LimitsPolicyDeps) {
  const warned = new Set<string>();
  /** Route → key id → shape (see Shape). */
  const shapes = new Map<string, Map<string, Shape>>();
  let shapeCount = 0;

  /** The buckets of a demand: planBuckets' answer, without building it again for a known shape. */
  function plan(d: Demand): { planned: readonly PlannedBucket[]; specs: readonly BucketSpec[] } {
    const id = d.identity?.keyId;
    if (typeof id !== 'string' || typeof d.route !== 'string') return shapeOf(d);
    let byKey = shapes.get(d.route);
    let shape = byKey?.get(id);
    if (!shape || !sameInputs(shape.inputs, d)) {
      if (shapeCount >= MAX_SHAPES) {
        shapes.clear();
        shapeCount = 0;
        byKey = undefined;
      }
      if (!byKey) shapes.set(d.route, (byKey = new Map()));
      if (!byKey.has(id)) shapeCount++;
      byKey.set(id, (shape = shapeOf(d)));
    }
    return instantiate(shape, d);
  }

  return {
    /** Reserves every bucket or none; throws LimitRefusal naming the limit hit. */
    async admit(d: Demand): Promise<Admission> {
      const { planned: shared, specs } = plan(d);
      // Admission.planned is a mutable array by its type; the shared, frozen one is read-only
      // at run time (nobody writes to it: the meter and settle only read).
      const planned = shared as PlannedBucket[];
      if (!planned.length) return { planned, headers: {} };
      const r = await deps.limiter.reserve(specs as BucketSpec[], { ttlMs: deps.reservationTtlMs });
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
      const amounts: Array<{ key: string; amount: number }> = [];
      for (const p of a.planned) {
        if (p.spec.kind === 'concurrency') continue;
        amounts.push({ key: p.spec.key, amount: p.role === 'requests' ? 1 : p.role === 'tokens' ? actual.tokens : actual.costNanos });
      }
      try {
        await deps.limiter.settle(a.reservation, amounts);
      } catch {
        // The store is down: the reservation expires on its own (reservationTtlMs), charged as reserved.
        return;
      }
      if (!deps.onSoftThreshold) return;
      // Most admissions have no budget with a soft threshold: check before building the list.
      if (!a.planned.some(hasSoftThreshold)) return;
      const budgets = a.planned.filter(hasSoftThreshold);
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
