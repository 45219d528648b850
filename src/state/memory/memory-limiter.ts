import { randomUUID } from 'node:crypto';

import {
  bucketState,
  correctPeriod,
  correctRate,
  currentLevel,
  periodBounds,
  planReserve,
  rateTokensNow,
  validateSpecs,
  type CurrentLevel,
  type PeriodLevel,
  type RateLevel,
} from '../buckets.js';
import type { BucketSpec, BucketState, BudgetPeriod, LimiterStore, ReserveResult } from '../types.js';

/**
 * The amount settled for a key: the last entry naming it (as a Map built from the list would
 * say). A settle lists a handful of buckets, so a scan is cheaper than building that Map.
 */
function amountOf(actual: ReadonlyArray<{ key: string; amount: number }>, key: string): number | undefined {
  for (let i = actual.length - 1; i >= 0; i--) if (actual[i]!.key === key) return actual[i]!.amount;
  return undefined;
}

/** Options of the in-process limiter. */
export interface MemoryLimiterOptions {
  /** Clock in epoch ms (injected by tests). */
  now?: () => number;
  /**
   * Most rate buckets kept. Full buckets are dropped by the sweep (a missing bucket is full,
   * so nothing changes); past the cap the least recently written go too, which can only
   * give a key a fresh bucket early, never refuse it wrongly.
   */
  maxRateBuckets?: number;
  /** How often (by the clock, checked on each reserve) idle state is swept. */
  sweepEveryMs?: number;
}

/** What a reservation took, so settle can correct it and release its slots. */
interface Reservation {
  expiresAtMs: number;
  parts: Array<
    | { kind: 'rate'; key: string; amount: number; limit: number; windowMs: number }
    | { kind: 'period'; key: string; amount: number; period: BudgetPeriod; startMs: number }
  >;
  concurrencyKeys: string[];
}

interface StoredRate extends RateLevel {
  limit: number;
  windowMs: number;
  /** When the bucket last moved to the end of the recency order (see touchRate). */
  placedAtMs: number;
}

/**
 * A rate bucket written again within this long keeps its place in the recency order and is
 * updated in place. Moving it on every write (a Map delete and set, a new object) churned the
 * map once per request; the order only decides which buckets the cap evicts first, and being
 * up to a second out of date there can only give a key a fresh bucket early.
 */
const RECENCY_SLACK_MS = 1000;

interface StoredPeriod extends PeriodLevel {
  period: BudgetPeriod;
}

/**
 * The limiter of one process: exact within it, using the pure algorithm of `buckets.ts`.
 * Also the local fallback of the Redis limiter while Redis is down (fail-open).
 */
export class MemoryLimiter implements LimiterStore {
  private readonly now: () => number;
  private readonly maxRateBuckets: number;
  private readonly sweepEveryMs: number;
  private readonly rate = new Map<string, StoredRate>();
  private readonly period = new Map<string, StoredPeriod>();
  /** Concurrency key → reservation id → expiry (epoch ms). */
  private readonly concurrency = new Map<string, Map<string, number>>();
  private readonly reservations = new Map<string, Reservation>();
  private lastSweepMs = -Infinity;
  /**
   * Reservation ids: a random prefix per limiter and a counter. Unique within the limiter and
   * across limiters (a reload's new one never takes an id an old admission still holds), and
   * far cheaper than a randomUUID per reservation (which builds its string from ~20 pieces).
   */
  private readonly idPrefix = `${randomUUID()}:`;
  private idSeq = 0;

  constructor(options: MemoryLimiterOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxRateBuckets = options.maxRateBuckets ?? 100_000;
    this.sweepEveryMs = options.sweepEveryMs ?? 10_000;
  }

  async reserve(buckets: BucketSpec[], opts: { ttlMs: number }): Promise<ReserveResult> {
    validateSpecs(buckets, opts.ttlMs);
    const nowMs = this.now();
    if (nowMs - this.lastSweepMs >= this.sweepEveryMs || this.rate.size > this.maxRateBuckets) this.sweep(nowMs);
    const levels = buckets.map((spec) => this.level(spec, nowMs));
    const plan = planReserve(buckets, levels, nowMs);
    if (!plan.ok) return { ok: false, refused: buckets[plan.refusedIndex]!.key, retryAfterMs: plan.retryAfterMs, states: plan.states };

    const id = this.idPrefix + (++this.idSeq).toString(36);
    const reservation: Reservation = { expiresAtMs: nowMs + opts.ttlMs, parts: [], concurrencyKeys: [] };
    for (let i = 0; i < buckets.length; i++) this.write(buckets[i]!, plan.after[i]!, nowMs, id, reservation);
    this.reservations.set(id, reservation);
    return { ok: true, reservation: id, states: plan.states };
  }

  async settle(reservation: string, actual: Array<{ key: string; amount: number }>): Promise<void> {
    const res = this.reservations.get(reservation);
    if (!res) return; // settled already, expired and swept, or never ours: idempotent
    this.reservations.delete(reservation);
    const nowMs = this.now();
    this.release(reservation, res);
    // An expired reservation counts as settled with what it reserved: no correction.
    if (res.expiresAtMs <= nowMs) return;
    for (const part of res.parts) {
      const amount = amountOf(actual, part.key);
      if (amount === undefined || !Number.isFinite(amount)) continue;
      const delta = amount - part.amount;
      if (delta === 0) continue;
      if (part.kind === 'rate') {
        const tokens = rateTokensNow(this.rate.get(part.key), part.limit, part.windowMs, nowMs);
        this.touchRate(part.key, correctRate(tokens, part.limit, delta), nowMs, part.limit, part.windowMs);
      } else {
        const { startMs } = periodBounds(part.period, nowMs);
        const stored = this.period.get(part.key);
        const spentNow = stored && stored.startMs === startMs ? stored.spent : 0;
        const spent = correctPeriod(spentNow, startMs === part.startMs, delta);
        this.period.set(part.key, { spent, startMs, period: part.period });
      }
    }
  }

  async peek(buckets: BucketSpec[]): Promise<BucketState[]> {
    validateSpecs(buckets);
    const nowMs = this.now();
    return buckets.map((spec) => bucketState(spec, this.level(spec, nowMs), nowMs));
  }

  async close(): Promise<void> {
    this.rate.clear();
    this.period.clear();
    this.concurrency.clear();
    this.reservations.clear();
  }

  /** Sizes, for tests and metrics. */
  size(): { rateBuckets: number; periodBuckets: number; concurrencyBuckets: number; reservations: number } {
    return { rateBuckets: this.rate.size, periodBuckets: this.period.size, concurrencyBuckets: this.concurrency.size, reservations: this.reservations.size };
  }

  private level(spec: BucketSpec, nowMs: number): CurrentLevel {
    if (spec.kind === 'rate') return currentLevel(spec, { rate: this.rate.get(spec.key) }, nowMs);
    if (spec.kind === 'period') return currentLevel(spec, { period: this.period.get(spec.key) }, nowMs);
    let live = 0;
    for (const expiresAt of this.concurrency.get(spec.key)?.values() ?? []) if (expiresAt > nowMs) live++;
    return currentLevel(spec, { live }, nowMs);
  }

  private write(spec: BucketSpec, after: CurrentLevel, nowMs: number, id: string, res: Reservation): void {
    if (spec.kind === 'rate' && after.kind === 'rate') {
      this.touchRate(spec.key, after.tokens, nowMs, spec.limit, spec.windowMs);
      res.parts.push({ kind: 'rate', key: spec.key, amount: spec.amount, limit: spec.limit, windowMs: spec.windowMs });
    } else if (spec.kind === 'period' && after.kind === 'period') {
      this.period.set(spec.key, { spent: after.spent, startMs: after.startMs, period: spec.period });
      res.parts.push({ kind: 'period', key: spec.key, amount: spec.amount, period: spec.period, startMs: after.startMs });
    } else if (spec.kind === 'concurrency') {
      let slots = this.concurrency.get(spec.key);
      if (!slots) this.concurrency.set(spec.key, (slots = new Map()));
      slots.set(id, res.expiresAtMs);
      res.concurrencyKeys.push(spec.key);
    }
  }

  private release(id: string, res: Reservation): void {
    for (const key of res.concurrencyKeys) {
      const slots = this.concurrency.get(key);
      slots?.delete(id);
      if (slots && slots.size === 0) this.concurrency.delete(key);
    }
  }

  /** Map insertion order doubles as recency: a write re-inserts the bucket, unless it moved within RECENCY_SLACK_MS. */
  private touchRate(key: string, tokens: number, atMs: number, limit: number, windowMs: number): void {
    const stored = this.rate.get(key);
    if (stored && atMs - stored.placedAtMs < RECENCY_SLACK_MS && atMs >= stored.placedAtMs) {
      stored.tokens = tokens;
      stored.atMs = atMs;
      stored.limit = limit;
      stored.windowMs = windowMs;
      return;
    }
    this.rate.delete(key);
    this.rate.set(key, { tokens, atMs, limit, windowMs, placedAtMs: atMs });
  }

  /** Drops what no longer changes any answer, so memory stays bounded by live use. */
  private sweep(nowMs: number): void {
    this.lastSweepMs = nowMs;
    for (const [id, res] of this.reservations) {
      if (res.expiresAtMs <= nowMs) {
        this.reservations.delete(id);
        this.release(id, res);
      }
    }
    for (const [key, b] of this.rate) if (rateTokensNow(b, b.limit, b.windowMs, nowMs) >= b.limit) this.rate.delete(key);
    for (const [key, p] of this.period) if (periodBounds(p.period, nowMs).startMs !== p.startMs) this.period.delete(key);
    // Trim to 90% of the cap so a busy limiter at the cap does not sweep on every call.
    const target = this.rate.size > this.maxRateBuckets ? Math.floor(this.maxRateBuckets * 0.9) : this.rate.size;
    for (const key of this.rate.keys()) {
      if (this.rate.size <= target) break;
      this.rate.delete(key);
    }
  }
}
