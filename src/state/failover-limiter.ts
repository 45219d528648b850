import { silentLogger, type StateLogger } from './state-logger.js';
import { StateUnavailableError, type BucketSpec, type BucketState, type LimiterStore, type ReserveResult } from './types.js';

type Mode = 'shared' | 'local' | 'refusing';

/** Counters of the failover limiter, for metrics. */
export interface FailoverLimiterStats {
  /** Where answers come from now: Redis, local buckets (fail-open), or nowhere (fail-closed). */
  mode: Mode;
  /** Reserves answered from local buckets since start. */
  localReserves: number;
  /** Calls refused with StateUnavailableError (fail-closed) since start. */
  refused: number;
  /** Settles of shared reservations that could not reach Redis (their ttl releases them). */
  lostSettles: number;
  /** Switches between shared and local since start. */
  transitions: number;
}

/** Reservation ids from the local buckets carry this prefix, so settle finds their owner. */
const LOCAL = 'local:';

/**
 * The limiter the router uses with `backend: redis`: the shared Redis limiter while Redis
 * answers; while it does not, either local in-memory buckets (`fail-open`: each instance
 * enforces the limits on its own, so N instances admit up to N× the limit, but requests keep
 * flowing) or `StateUnavailableError` (`fail-closed`: the edge answers 503). Each switch is
 * logged once. Local buckets start full (the shared levels are unknown here) and are kept
 * across outages, refilling meanwhile, so a flapping Redis does not hand out fresh buckets.
 */
export class FailoverLimiter implements LimiterStore {
  private mode: Mode = 'shared';
  private skipSharedUntil = 0;
  private wasHealthy = true;
  private readonly counters = { localReserves: 0, refused: 0, lostSettles: 0, transitions: 0 };
  private readonly logger: StateLogger;

  constructor(
    private readonly shared: LimiterStore,
    private readonly local: LimiterStore,
    private readonly options: {
      onUnavailable: 'fail-open' | 'fail-closed';
      healthy: () => boolean;
      logger?: StateLogger;
      /**
       * After a shared call failed on a live connection (a hung Redis times out rather than
       * disconnects), the shared limiter is skipped this long (default 1 s), so requests do
       * not each wait out a timeout.
       */
      coolDownMs?: number;
    },
  ) {
    this.logger = options.logger ?? silentLogger;
  }

  async reserve(buckets: BucketSpec[], opts: { ttlMs: number }): Promise<ReserveResult> {
    const result = await this.attempt(() => this.shared.reserve(buckets, opts));
    if (result !== undefined) return result;
    this.counters.localReserves++;
    const local = await this.local.reserve(buckets, opts);
    return local.ok ? { ...local, reservation: LOCAL + local.reservation } : local;
  }

  async settle(reservation: string, actual: Array<{ key: string; amount: number }>): Promise<void> {
    if (reservation.startsWith(LOCAL)) return this.local.settle(reservation.slice(LOCAL.length), actual);
    try {
      await this.shared.settle(reservation, actual);
    } catch (err) {
      if (!(err instanceof StateUnavailableError)) throw err;
      // The reservation expires in Redis on its own (slots released at ttl); only the
      // correction is lost. Fail-closed still says so; fail-open shrugs.
      this.counters.lostSettles++;
      if (this.options.onUnavailable === 'fail-closed') throw err;
    }
  }

  async peek(buckets: BucketSpec[]): Promise<BucketState[]> {
    return (await this.attempt(() => this.shared.peek(buckets))) ?? this.local.peek(buckets);
  }

  async close(): Promise<void> {
    await this.local.close();
    await this.shared.close();
  }

  stats(): FailoverLimiterStats {
    return { mode: this.mode, ...this.counters };
  }

  /** The shared answer; undefined when the local buckets must answer; throws when fail-closed. */
  private async attempt<T>(call: () => Promise<T>): Promise<T | undefined> {
    let failure: StateUnavailableError;
    const healthy = this.options.healthy();
    // A reconnect proves Redis answers again: the cool-down of the old connection is over.
    if (healthy && !this.wasHealthy) this.skipSharedUntil = 0;
    this.wasHealthy = healthy;
    if (!healthy || Date.now() < this.skipSharedUntil) {
      failure = new StateUnavailableError('Redis unavailable: shared limits cannot be checked');
    } else {
      try {
        const value = await call();
        this.switchTo('shared');
        return value;
      } catch (err) {
        if (!(err instanceof StateUnavailableError)) throw err;
        failure = err;
        this.skipSharedUntil = Date.now() + (this.options.coolDownMs ?? 1_000);
      }
    }
    if (this.options.onUnavailable === 'fail-closed') {
      this.counters.refused++;
      this.switchTo('refusing', failure);
      throw failure;
    }
    this.switchTo('local', failure);
    return undefined;
  }

  private switchTo(mode: Mode, cause?: Error): void {
    if (this.mode === mode) return;
    this.mode = mode;
    this.counters.transitions++;
    if (mode === 'shared') {
      this.logger.info({}, 'Redis is back: rate limits and budgets are shared again');
    } else if (mode === 'local') {
      this.logger.warn({ err: cause?.message }, 'Redis unavailable: rate limits and budgets now from local buckets of this instance (fail-open)');
    } else {
      this.logger.error({ err: cause?.message }, 'Redis unavailable: limited requests are refused (fail-closed)');
    }
  }
}
