/**
 * The limiter's bucket algorithm, written once as pure functions of the stored levels and a
 * clock reading. The memory limiter calls these directly; the Redis Lua scripts
 * (`redis/limiter-lua.ts`) are a line-for-line port, and the contract suite checks that both
 * behave the same.
 *
 * - rate: a token bucket of capacity `limit` refilling `limit` per `windowMs` continuously.
 *   A missing bucket is full. Settling may push it below zero (a stream used more than it
 *   reserved: the debt is paid back by refill before the next request passes).
 * - period: spend within a calendar UTC day or month, or forever (`total`).
 * - concurrency: the count of live (unsettled, unexpired) reservations.
 */
import type { BucketSpec, BucketState, BudgetPeriod } from './types.js';

const DAY_MS = 86_400_000;

/**
 * `resetMs` of a `total` budget: it never resets. A finite number (2^53 − 1) rather than
 * Infinity so it survives JSON and Lua; callers can compare against it to omit a reset header.
 */
export const TOTAL_PERIOD_RESET_MS = Number.MAX_SAFE_INTEGER;

/** `retryAfterMs` of a refused concurrency bucket: slots free when requests end, which nobody can predict. */
export const CONCURRENCY_RETRY_MS = 1_000;

/**
 * Slack in comparisons: spend is fractional USD, and 0.1 + 0.2 > 0.3 in binary floating
 * point would otherwise refuse a request that exactly fills a budget.
 */
export const EPSILON = 1e-9;

/** What a rate bucket stores: tokens left at a moment. */
export interface RateLevel {
  tokens: number;
  atMs: number;
}

/** What a period bucket stores: spend within the period that started at `startMs`. */
export interface PeriodLevel {
  spent: number;
  startMs: number;
}

/** A bucket's level at the moment of the call (refill and period roll-over applied). */
export type CurrentLevel =
  | { kind: 'rate'; tokens: number }
  | { kind: 'period'; spent: number; startMs: number; endMs: number }
  | { kind: 'concurrency'; live: number };

/** Start and end of the UTC period holding `nowMs`; `total` runs from 0 to Infinity. */
export function periodBounds(period: BudgetPeriod, nowMs: number): { startMs: number; endMs: number } {
  if (period === 'total') return { startMs: 0, endMs: Infinity };
  if (period === 'day') {
    const startMs = Math.floor(nowMs / DAY_MS) * DAY_MS;
    return { startMs, endMs: startMs + DAY_MS };
  }
  const d = new Date(nowMs);
  return { startMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), endMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

/** Tokens in a rate bucket now. A clock that went backwards refills nothing (never a negative refill). */
export function rateTokensNow(level: RateLevel | undefined, limit: number, windowMs: number, nowMs: number): number {
  if (!level) return limit;
  const elapsed = Math.max(0, nowMs - level.atMs);
  return Math.min(limit, level.tokens + (elapsed * limit) / windowMs);
}

/** The level of any bucket now, from what is stored (`live` for concurrency is counted by the caller). */
export function currentLevel(
  spec: BucketSpec,
  stored: { rate?: RateLevel; period?: PeriodLevel; live?: number },
  nowMs: number,
): CurrentLevel {
  switch (spec.kind) {
    case 'rate':
      return { kind: 'rate', tokens: rateTokensNow(stored.rate, spec.limit, spec.windowMs, nowMs) };
    case 'period': {
      const { startMs, endMs } = periodBounds(spec.period, nowMs);
      const spent = stored.period && stored.period.startMs === startMs ? stored.period.spent : 0;
      return { kind: 'period', spent, startMs, endMs };
    }
    case 'concurrency':
      return { kind: 'concurrency', live: stored.live ?? 0 };
  }
}

/**
 * Whether a bucket can take its amount. A zero amount still needs something left. A rate
 * amount larger than the whole capacity (a prompt + max_tokens above the tpm) passes only
 * from a full bucket, driving it into debt; refusing it forever would make such a request
 * impossible rather than slow.
 */
export function fits(spec: BucketSpec, level: CurrentLevel): boolean {
  if (spec.kind === 'rate' && level.kind === 'rate') {
    if (spec.amount <= 0) return level.tokens > EPSILON;
    if (spec.amount > spec.limit) return level.tokens >= spec.limit - EPSILON;
    return level.tokens >= spec.amount - EPSILON;
  }
  if (spec.kind === 'period' && level.kind === 'period') {
    if (spec.amount <= 0) return level.spent < spec.limit - EPSILON;
    return level.spent + spec.amount <= spec.limit + EPSILON;
  }
  if (spec.kind === 'concurrency' && level.kind === 'concurrency') return level.live < spec.limit;
  throw new TypeError(`level of kind ${level.kind} given for ${spec.kind} bucket ${spec.key}`);
}

/** Time until a refused bucket could take its amount. */
export function retryAfterMs(spec: BucketSpec, level: CurrentLevel, nowMs: number): number {
  if (spec.kind === 'rate' && level.kind === 'rate') {
    const need = Math.min(Math.max(spec.amount, EPSILON * 2), spec.limit);
    return Math.max(1, Math.ceil(((need - level.tokens) * spec.windowMs) / spec.limit));
  }
  if (spec.kind === 'period' && level.kind === 'period') return resetOfPeriod(level.endMs, nowMs);
  return CONCURRENCY_RETRY_MS;
}

/** The level after taking the amount (for concurrency: one more live reservation). */
export function take(spec: BucketSpec, level: CurrentLevel): CurrentLevel {
  if (spec.kind === 'rate' && level.kind === 'rate') return { kind: 'rate', tokens: level.tokens - spec.amount };
  if (spec.kind === 'period' && level.kind === 'period') return { ...level, spent: level.spent + spec.amount };
  if (level.kind === 'concurrency') return { kind: 'concurrency', live: level.live + 1 };
  return level;
}

/** The headers' view of a bucket at a level. */
export function bucketState(spec: BucketSpec, level: CurrentLevel, nowMs: number): BucketState {
  if (spec.kind === 'rate' && level.kind === 'rate') {
    const missing = Math.max(0, spec.limit - level.tokens);
    return {
      key: spec.key,
      limit: spec.limit,
      remaining: Math.max(0, Math.floor(level.tokens + EPSILON)),
      resetMs: Math.ceil((missing * spec.windowMs) / spec.limit),
    };
  }
  if (spec.kind === 'period' && level.kind === 'period') {
    return { key: spec.key, limit: spec.limit, remaining: Math.max(0, spec.limit - level.spent), resetMs: resetOfPeriod(level.endMs, nowMs) };
  }
  const live = level.kind === 'concurrency' ? level.live : 0;
  return { key: spec.key, limit: spec.limit, remaining: Math.max(0, spec.limit - live), resetMs: 0 };
}

function resetOfPeriod(endMs: number, nowMs: number): number {
  return endMs === Infinity ? TOTAL_PERIOD_RESET_MS : Math.max(0, endMs - nowMs);
}

/** The outcome of checking every bucket of one reserve call. */
export type ReservePlan =
  | { ok: true; after: CurrentLevel[]; states: BucketState[] }
  | { ok: false; refusedIndex: number; retryAfterMs: number; states: BucketState[] };

/**
 * All-or-nothing: every bucket must fit, or none is taken. On a refusal the states show the
 * untouched levels and `retryAfterMs` is for the first bucket that did not fit.
 */
export function planReserve(specs: BucketSpec[], levels: CurrentLevel[], nowMs: number): ReservePlan {
  // Plain loops (this runs on every limited request): the same order of checks as
  // findIndex/map, without their closures.
  const n = specs.length;
  let refusedIndex = -1;
  for (let i = 0; i < n; i++) {
    if (!fits(specs[i]!, levels[i]!)) {
      refusedIndex = i;
      break;
    }
  }
  const states: BucketState[] = new Array(n);
  if (refusedIndex >= 0) {
    for (let i = 0; i < n; i++) states[i] = bucketState(specs[i]!, levels[i]!, nowMs);
    return { ok: false, refusedIndex, retryAfterMs: retryAfterMs(specs[refusedIndex]!, levels[refusedIndex]!, nowMs), states };
  }
  const after: CurrentLevel[] = new Array(n);
  for (let i = 0; i < n; i++) after[i] = take(specs[i]!, levels[i]!);
  for (let i = 0; i < n; i++) states[i] = bucketState(specs[i]!, after[i]!, nowMs);
  return { ok: true, after, states };
}

/**
 * A rate bucket corrected at settle by `delta = actual - reserved`: a charge may go below
 * zero (overshoot is paid back by refill), a refund never lifts it above capacity.
 */
export function correctRate(tokensNow: number, limit: number, delta: number): number {
  return Math.min(limit, tokensNow - delta);
}

/**
 * A period bucket corrected at settle. When the period rolled over since the reservation,
 * a refund is dropped (the old period's spend is gone) but a charge lands in the new period
 * (the money was spent now). Spend never goes below zero.
 */
export function correctPeriod(spentNow: number, samePeriod: boolean, delta: number): number {
  if (!samePeriod && delta < 0) return spentNow;
  return Math.max(0, spentNow + delta);
}

/**
 * Rejects specs the algorithm cannot mean anything by: they are caller bugs, not limits.
 * Keys must be unique within one call (each bucket is checked against its stored level once).
 */
export function validateSpecs(specs: readonly BucketSpec[], ttlMs?: number): void {
  if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) throw new TypeError(`ttlMs must be a positive number, got ${ttlMs}`);
  // A request draws from a handful of buckets: comparing with the earlier ones beats building
  // a Set on every call. Large calls (admin peeks over many routes) still use one.
  const seen = specs.length > SMALL_CALL ? new Set<string>() : undefined;
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!;
    if (seen ? seen.has(spec.key) : keyBefore(specs, i)) throw new TypeError(`bucket key ${spec.key} appears twice in one call`);
    seen?.add(spec.key);
    const bad =
      spec.kind === 'rate'
        ? !(spec.limit > 0 && Number.isFinite(spec.limit) && spec.windowMs > 0 && Number.isFinite(spec.windowMs) && Number.isFinite(spec.amount) && spec.amount >= 0)
        : spec.kind === 'period'
          ? !(spec.limit >= 0 && Number.isFinite(spec.limit) && Number.isFinite(spec.amount) && spec.amount >= 0)
          : !(Number.isInteger(spec.limit) && spec.limit >= 0);
    if (bad) throw new TypeError(`invalid ${spec.kind} bucket ${spec.key}: ${JSON.stringify(spec)}`);
  }
}

/** Up to this many specs, duplicates are found by comparing with the earlier ones. */
const SMALL_CALL = 16;

/** Whether the key of `specs[i]` is the key of an earlier spec. */
function keyBefore(specs: readonly BucketSpec[], i: number): boolean {
  const key = specs[i]!.key;
  for (let j = 0; j < i; j++) if (specs[j]!.key === key) return true;
  return false;
}
