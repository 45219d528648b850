import type { TargetState, TargetView } from '../health/target-health.js';

/** One target as the dashboard shows it. */
export interface TargetRow {
  provider: string;
  model: string;
  state: TargetState;
  /** When the current state began (ISO). */
  since: string;
  /** Why it is in this state, as well as the view can tell. */
  reason: string;
  routes: string[];
  breaker: { calls: number; failures: number; errorPercent: number; opensAtPercent: number; minRequests: number; windowMs: number };
  probation: { good: number; needed: number } | null;
  probes: { next: string | null; passed: number; failed: number; lastOutcome: string | null };
  lastError: { at: string; source: string; kind: string; message: string } | null;
  drain: { at: string; by: string | null; reason: string | null } | null;
}

/**
 * Why a target is where it is. The gate's view keeps the evidence (the last error, the drain,
 * the last probe) but not the sentence it logged, so the reason is rebuilt from it; `from` is
 * the state before, when the transition was seen.
 */
export function reasonOf(t: TargetView, from?: TargetState): string {
  switch (t.state) {
    case 'drained': {
      const who = t.drain?.by ? ` by ${t.drain.by}` : ' by an operator';
      return `drained${who}${t.drain?.reason ? `: ${t.drain.reason}` : ''}`;
    }
    case 'open':
      if (from === 'drained') return 'released by an operator: probes resume';
      return t.lastError ? `${t.lastError.source} ${t.lastError.kind}: ${t.lastError.message}` : 'breaker opened';
    case 'probation':
      return t.probes.last?.outcome === 'pass' ? `health probe passed (${t.probes.last.latencyMs} ms)` : 'health probe passed';
    case 'healthy':
      if (from === 'probation') return 'promoted: enough good calls in probation';
      if (from) return 'restored by an operator';
      return 'taking traffic';
  }
}

export function toTargetRow(t: TargetView, from?: TargetState): TargetRow {
  return {
    provider: t.provider,
    model: t.model,
    state: t.state,
    since: t.since,
    reason: reasonOf(t, from),
    routes: t.routes,
    breaker: {
      calls: t.breaker.calls,
      failures: t.breaker.failures,
      errorPercent: t.breaker.errorPercent,
      opensAtPercent: t.breaker.opensAt.errorPercent,
      minRequests: t.breaker.opensAt.minRequests,
      windowMs: t.breaker.windowMs,
    },
    probation: t.probation ? { good: t.probation.good, needed: t.probation.promoteAfter } : null,
    probes: { next: t.probes.next, passed: t.probes.passed, failed: t.probes.failed, lastOutcome: t.probes.last?.outcome ?? null },
    lastError: t.lastError,
    drain: t.drain,
  };
}
