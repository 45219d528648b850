import type { RouteConfig } from '../config/schema.js';
import type { Provider, Target } from '../core/provider.js';
import type { BreakerCounts, TargetBreaker } from './breaker.js';
import type { FleetTargetView } from './fleet-types.js';
import type { ShadowOutcome } from './shadow-call.js';

/**
 * Where a target stands.
 * - healthy: takes live traffic; live outcomes feed its breaker.
 * - open: no live traffic; active probes run once `breaker.openMs` has passed.
 * - probation: a probe passed; live traffic still goes elsewhere (unless it is the last resort)
 *   and a sample is mirrored to it as shadow calls until `shadow.promoteAfter` good ones.
 * - drained: an operator's hold: no live traffic, no probes, no shadows until restored or released.
 */
export type TargetState = 'healthy' | 'open' | 'probation' | 'drained';

export const TARGET_STATES: readonly TargetState[] = ['healthy', 'open', 'probation', 'drained'];

/** The settings a target runs under: those of the first route (in config order) listing it. */
export interface TargetSettings {
  breaker: RouteConfig['breaker'];
  healthCheck: RouteConfig['healthCheck'];
  shadow: RouteConfig['shadow'];
}

/** An error worth showing an operator: a ProviderError's `detail` (else its message); neither ever holds secrets. */
export interface HealthError {
  at: number;
  /** What saw it: a live call, a probe or a shadow call. */
  source: 'live' | 'probe' | 'shadow';
  /** ProviderError kind, 'bad_output' or a probe outcome. */
  kind: string;
  message: string;
}

export interface ProbeRecord {
  at: number;
  outcome: 'pass' | 'fail' | 'timeout';
  latencyMs: number;
  detail?: string;
}

export interface ShadowStats {
  good: number;
  bad: number;
  inconclusive: number;
  cancelled: number;
  /** Samples dropped because `maxConcurrent` calls were already in flight (here, or with a fleet, across it) or the fleet's budget was spent. */
  skipped: number;
  last?: { at: number; outcome: ShadowOutcome; latencyMs: number; ttftMs?: number };
  lastError?: HealthError;
}

/** Mutable health record of one target; owned by the health gate. */
export interface TargetHealth {
  readonly key: string;
  readonly target: Target;
  readonly provider: Provider;
  /** Routes listing the target, in config order; the first one's settings apply. */
  readonly routes: string[];
  readonly settings: TargetSettings;
  readonly breaker: TargetBreaker;
  state: TargetState;
  /** When the current state began. */
  since: number;
  /** When live traffic was last cut off (open or drained); unset while healthy. */
  openedAt?: number;
  /** Bumped on every transition so late probe and shadow results of an earlier phase are ignored. */
  epoch: number;
  lastError?: HealthError;
  probeTimer?: ReturnType<typeof setTimeout>;
  nextProbeAt?: number;
  /** The probe in flight, so closing the gate can stop waiting for it. */
  probing?: AbortController;
  lastProbe?: ProbeRecord;
  probes: { passed: number; failed: number };
  /** Good calls in the current probation (shadow calls, and live calls served as last resort). */
  good: number;
  shadows: ShadowStats;
  /** One controller per shadow call in flight, to cancel them when probation ends. */
  inFlight: Set<AbortController>;
  drain?: { at: number; by?: string; reason?: string };
}

/** What GET /admin/targets shows for one target. Times are ISO 8601. */
export interface TargetView {
  provider: string;
  model: string;
  state: TargetState;
  since: string;
  openedAt: string | null;
  routes: string[];
  lastError: (Omit<HealthError, 'at'> & { at: string }) | null;
  breaker: BreakerCounts & { windowMs: number; opensAt: { errorPercent: number; minRequests: number } };
  probes: {
    intervalMs: number;
    next: string | null;
    passed: number;
    failed: number;
    last: (Omit<ProbeRecord, 'at'> & { at: string }) | null;
  };
  probation: { good: number; promoteAfter: number; sampleRate: number } | null;
  shadow: {
    inFlight: number;
    maxConcurrent: number;
    good: number;
    bad: number;
    inconclusive: number;
    cancelled: number;
    skipped: number;
    lastAt: string | null;
    lastOutcome: ShadowOutcome | null;
    lastLatencyMs: number | null;
    /** Time to first token of the last shadow call, when it was streamed. */
    lastTtftMs: number | null;
    lastError: (Omit<HealthError, 'at'> & { at: string }) | null;
  };
  drain: { at: string; by: string | null; reason: string | null } | null;
  /** With shared health (state.backend redis): the fleet's record of the target and each instance's local state. */
  fleet?: FleetTargetView;
}

const MESSAGE_MAX = 300;

/** Keeps operator-facing messages short (upstream bodies can be long). */
export const clipMessage = (s: string | undefined): string => (s && s.length > MESSAGE_MAX ? `${s.slice(0, MESSAGE_MAX)}…` : (s ?? ''));

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());
const withIso = <T extends { at: number }>(x: T | undefined): (Omit<T, 'at'> & { at: string }) | null => (x ? { ...x, at: new Date(x.at).toISOString() } : null);

export function toView(t: TargetHealth): TargetView {
  const { breaker, healthCheck, shadow } = t.settings;
  return {
    provider: t.target.provider,
    model: t.target.model,
    state: t.state,
    since: new Date(t.since).toISOString(),
    openedAt: iso(t.openedAt),
    routes: [...t.routes],
    lastError: withIso(t.lastError),
    breaker: { ...t.breaker.counts(), windowMs: breaker.windowMs, opensAt: { errorPercent: breaker.errorPercent, minRequests: breaker.minRequests } },
    probes: { intervalMs: healthCheck.intervalMs, next: iso(t.nextProbeAt), passed: t.probes.passed, failed: t.probes.failed, last: withIso(t.lastProbe) },
    probation: t.state === 'probation' ? { good: t.good, promoteAfter: shadow.promoteAfter, sampleRate: shadow.sampleRate } : null,
    shadow: {
      inFlight: t.inFlight.size,
      maxConcurrent: shadow.maxConcurrent,
      good: t.shadows.good,
      bad: t.shadows.bad,
      inconclusive: t.shadows.inconclusive,
      cancelled: t.shadows.cancelled,
      skipped: t.shadows.skipped,
      lastAt: iso(t.shadows.last?.at),
      lastOutcome: t.shadows.last?.outcome ?? null,
      lastLatencyMs: t.shadows.last?.latencyMs ?? null,
      lastTtftMs: t.shadows.last?.ttftMs ?? null,
      lastError: withIso(t.shadows.lastError),
    },
    drain: t.drain ? { at: new Date(t.drain.at).toISOString(), by: t.drain.by ?? null, reason: t.drain.reason ?? null } : null,
  };
}
