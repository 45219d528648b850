import { Counter, Gauge, type Registry } from 'prom-client';

/** What the fleet layer reports to Prometheus. Structural, so tests can pass plain fakes. */
export interface FleetMetrics {
  /** type: open | probation | promote | drain | restore | release | probe; direction: published | received. */
  events: { inc(labels: { type: string; direction: 'published' | 'received' }): void };
  /** Fleet calls to Redis that failed or timed out (the instance then decided alone). */
  redisErrors: { inc(): void };
  /** Local states the periodic reconcile found wrong (missed news) and corrected. */
  reconcileFixes: { inc(): void };
  /** Writes refused because the shared state had moved on; the shared one was taken instead. */
  conflicts: { inc(): void };
  /** 1 while Redis answers fleet calls, 0 while this instance decides alone. */
  connected: { set(value: number): void };
}

/** The fleet metrics on `registry` (prefix `llm_router_`). */
export function createFleetMetrics(registry: Registry, prefix = 'llm_router_'): FleetMetrics {
  return {
    events: new Counter({
      name: `${prefix}fleet_health_events_total`,
      help: 'Target health news shared between router instances, by type and direction (published, received).',
      labelNames: ['type', 'direction'] as const,
      registers: [registry],
    }),
    redisErrors: new Counter({
      name: `${prefix}fleet_redis_errors_total`,
      help: 'Fleet health calls to Redis that failed or timed out; the instance then decided on its own.',
      registers: [registry],
    }),
    reconcileFixes: new Counter({
      name: `${prefix}fleet_reconcile_fixes_total`,
      help: 'Local target states corrected by the periodic reconcile with the shared state (missed news).',
      registers: [registry],
    }),
    conflicts: new Counter({
      name: `${prefix}fleet_write_conflicts_total`,
      help: 'Local health decisions not written because the shared state had moved on; the shared state was taken.',
      registers: [registry],
    }),
    connected: new Gauge({
      name: `${prefix}fleet_connected`,
      help: '1 while Redis answers fleet health calls, 0 while this instance decides target health on its own.',
      registers: [registry],
    }),
  };
}
