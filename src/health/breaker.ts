import CircuitBreaker from 'opossum';
import { ProviderError, countsAgainstHealth } from '../core/provider-error.js';
import type { CallOutcome } from '../routing/target-gate.js';

/** Thresholds of one target's breaker (a route's `breaker` config). */
export interface BreakerSettings {
  /** Error percentage of the window at or above which the breaker opens. */
  errorPercent: number;
  /** Calls in the window before the breaker may open. */
  minRequests: number;
  /** Length of the rolling window. */
  windowMs: number;
  /** Least time open before probes start (our probes; opossum's own half-open is not used). */
  openMs: number;
}

/** The rolling window as the admin view shows it. */
export interface BreakerCounts {
  /** Live outcomes recorded in the window. */
  calls: number;
  /** Outcomes that did not count against the provider (caller errors included). */
  successes: number;
  /** Outcomes of kinds that mean the provider is unwell. */
  failures: number;
  /** Live requests turned away while the target was not admitted. */
  rejects: number;
  /** failures / calls, in percent (0 with no calls). */
  errorPercent: number;
}

/**
 * Our small, typed face of opossum. Dispatch makes the calls itself and only reports how they
 * ended, so an outcome is replayed through `fire()`: opossum then does what it is good at
 * (rolling window, volume threshold, error percentage, errorFilter) and we read its `open` event.
 * Everything after opening (probes, probation, promotion) is driven by the health gate.
 */
export interface TargetBreaker {
  /** Feeds one live outcome. The breaker may open a few microtasks later (opossum settles via promises). */
  record(outcome: CallOutcome): void;
  /** Counts a live request turned away. */
  reject(): void;
  counts(): BreakerCounts;
  /** Starts a clean window (a promoted target must not carry the failures that opened it). */
  reset(): void;
  /** Stops opossum's timers; the breaker ignores outcomes afterwards. */
  shutdown(): void;
}

/** Error that tripped the breaker, or a stand-in if opossum opened for a reason of its own. */
export type OnOpen = (cause: ProviderError) => void;

// What opossum really has but its typings (8.x for a 9.x library) leave out.
interface StatusWithIncrement {
  increment?(property: string, latency?: number): void;
}

const replay = async (outcome: CallOutcome): Promise<void> => {
  if (!outcome.ok) throw outcome.error;
};

/** Only failures that mean the provider is unwell count; a caller's mistake is a success to the breaker. */
const isNotProviderFault = (err: unknown): boolean => !(err instanceof ProviderError && countsAgainstHealth(err.kind));

export function createBreaker(name: string, settings: BreakerSettings, onOpen: OnOpen): TargetBreaker {
  // Opossum opens only when the rate *exceeds* its threshold, so errorPercent: 100 would never
  // open; the config reads "the percentage that opens the breaker", i.e. at or above.
  const threshold = Math.max(0, settings.errorPercent - 1e-6);
  // Buckets of at least 100 ms: a tiny window must not become a busy interval timer.
  const buckets = Math.max(1, Math.min(10, Math.floor(settings.windowMs / 100)));
  let lastFailure: ProviderError | undefined;
  let stopped = false;

  const build = (): CircuitBreaker<[CallOutcome], void> => {
    // A fresh options object per instance: opossum writes its defaults into the one it gets.
    const b = new CircuitBreaker<[CallOutcome], void>(replay, {
      name,
      // The call is over before it reaches us; a timer would only race a settled promise.
      timeout: false,
      errorThresholdPercentage: threshold,
      volumeThreshold: settings.minRequests,
      rollingCountTimeout: settings.windowMs,
      rollingCountBuckets: buckets,
      resetTimeout: settings.openMs,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      errorFilter: isNotProviderFault,
    });
    b.on('failure', (err: unknown) => {
      if (err instanceof ProviderError) lastFailure = err;
    });
    b.on('open', () => {
      onOpen(lastFailure ?? new ProviderError({ kind: 'server', provider: name, message: 'circuit opened' }));
    });
    return b;
  };

  let breaker = build();

  return {
    record(outcome) {
      if (stopped) return;
      // Rejections are the breaker's business, never the caller's: swallow them here.
      breaker.fire(outcome).catch(() => {});
    },
    reject() {
      if (stopped) return;
      // Counted without a `fire`, so turned-away requests never dilute the error percentage.
      (breaker.status as unknown as StatusWithIncrement).increment?.('rejects');
    },
    counts() {
      const s = breaker.stats;
      const calls = s.successes + s.failures;
      return {
        calls,
        successes: s.successes,
        failures: s.failures,
        rejects: s.rejects,
        errorPercent: calls ? Math.round((s.failures / calls) * 1000) / 10 : 0,
      };
    },
    reset() {
      if (stopped) return;
      // Opossum has no "clear the window": a new instance is the clean slate.
      breaker.shutdown();
      lastFailure = undefined;
      breaker = build();
    },
    shutdown() {
      stopped = true;
      breaker.shutdown();
    },
  };
}
