import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * What the health gate reports to Prometheus. Structural, so tests can pass plain fakes and
 * the router can pass its own `tokens` counter for shadow usage.
 *
 * `breakerState` is an enum gauge: for each target one series per state, 1 for the state it is
 * in and 0 for the others (`llm_router_breaker_state{state="open"} == 1` is the alert).
 */
export interface HealthMetrics {
  breakerState: { set(labels: { provider: string; model: string; state: string }, value: number): void; remove?(labels: { provider: string; model: string; state: string }): void };
  transitions: { inc(labels: { provider: string; model: string; from: string; to: string }): void };
  /** outcome: good | bad | inconclusive | cancelled | skipped (over the concurrency cap). */
  shadowCalls: { inc(labels: { provider: string; model: string; outcome: string }): void };
  /** Seconds. */
  shadowLatency: { observe(labels: { provider: string; model: string }, value: number): void };
  /** outcome: pass | fail | timeout. */
  probes: { inc(labels: { provider: string; model: string; outcome: string }): void };
  /** The router's token counter; shadow usage is added under traffic="shadow". */
  tokens?: { inc(labels: { route: string; provider: string; type: string; traffic: string }, value: number): void };
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The gate's metrics on `registry` (prefix `llm_router_`). `tokens` is the router's, passed in separately. */
export function createHealthMetrics(registry: Registry, prefix = 'llm_router_'): Omit<HealthMetrics, 'tokens'> {
  return {
    breakerState: new Gauge({
      name: `${prefix}breaker_state`,
      help: 'Health state of a target: 1 for the state it is in (healthy, open, probation, drained), 0 for the others.',
      labelNames: ['provider', 'model', 'state'] as const,
      registers: [registry],
    }),
    transitions: new Counter({
      name: `${prefix}breaker_transitions_total`,
      help: 'Health state changes of a target, by from and to state.',
      labelNames: ['provider', 'model', 'from', 'to'] as const,
      registers: [registry],
    }),
    shadowCalls: new Counter({
      name: `${prefix}shadow_calls_total`,
      help: 'Shadow calls to targets on probation, by outcome (good, bad, inconclusive, cancelled, skipped).',
      labelNames: ['provider', 'model', 'outcome'] as const,
      registers: [registry],
    }),
    shadowLatency: new Histogram({
      name: `${prefix}shadow_duration_seconds`,
      help: 'Time of shadow calls that completed or timed out.',
      labelNames: ['provider', 'model'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    probes: new Counter({
      name: `${prefix}health_probes_total`,
      help: 'Active health probes of open targets, by outcome (pass, fail, timeout).',
      labelNames: ['provider', 'model', 'outcome'] as const,
      registers: [registry],
    }),
  };
}
