import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createHealthMetrics } from '../health/health-metrics.js';
import { FastCounter, FastHistogram } from './fast-metrics.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];
const QUEUE_WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** All router metrics, on a registry of their own so tests and several apps never collide. */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const base = baseMetrics(opts);
  return {
    ...base,
    /**
     * The same metrics for the per-answer calls of the chat path: label values in each
     * metric's labelNames order, no labels object and no hashing per call (fast-metrics.ts).
     */
    hot: {
      requests: new FastCounter(base.requests),
      latency: new FastHistogram(base.latency),
      timeToFirstToken: new FastHistogram(base.timeToFirstToken),
      overhead: new FastHistogram(base.overhead),
      upstreamLatency: new FastHistogram(base.upstreamLatency),
      tokens: new FastCounter(base.tokens),
    },
  };
}

function baseMetrics(opts: { defaultMetrics?: boolean }) {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'llm_router_' });
  const p = 'llm_router_';
  return {
    registry,
    health: createHealthMetrics(registry, p),
    requests: new Counter({
      name: `${p}requests_total`,
      help: 'Chat requests by route, provider that answered (or "none") and outcome.',
      labelNames: ['route', 'provider', 'outcome', 'stream'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: `${p}request_duration_seconds`,
      help: 'Whole request time as the app saw it (to last byte).',
      labelNames: ['route', 'provider', 'stream'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    timeToFirstToken: new Histogram({
      name: `${p}time_to_first_token_seconds`,
      help: 'Time from request to the first streamed token sent to the app.',
      labelNames: ['route', 'provider'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    overhead: new Histogram({
      name: `${p}overhead_seconds`,
      help: 'Router overhead: total time minus time spent waiting on upstreams and backoff.',
      labelNames: ['route', 'stream'] as const,
      buckets: OVERHEAD_BUCKETS,
      registers: [registry],
    }),
    upstreamLatency: new Histogram({
      name: `${p}upstream_duration_seconds`,
      help: 'Time of each upstream attempt, by target and outcome kind.',
      labelNames: ['provider', 'model', 'outcome'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    tokens: new Counter({
      name: `${p}tokens_total`,
      help: 'Tokens by route, provider and type (prompt, completion); shadow calls are counted under traffic="shadow".',
      labelNames: ['route', 'provider', 'type', 'traffic'] as const,
      registers: [registry],
    }),
    fallbacks: new Counter({
      name: `${p}fallbacks_total`,
      help: 'Moves from one target to the next, by route, from, to and error kind.',
      labelNames: ['route', 'from', 'to', 'kind'] as const,
      registers: [registry],
    }),
    retries: new Counter({
      name: `${p}retries_total`,
      help: 'Retries on the same target, by provider and error kind.',
      labelNames: ['provider', 'model', 'kind'] as const,
      registers: [registry],
    }),
    streamErrors: new Counter({
      name: `${p}stream_errors_total`,
      help: 'Streams that failed after the app had received bytes (ended with an error event).',
      labelNames: ['route', 'provider', 'kind'] as const,
      registers: [registry],
    }),
    configReloads: new Counter({
      name: `${p}config_reloads_total`,
      help: 'Config reloads by result.',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    // Spend, tokens per key, limit refusals and the state backend: usage-metrics.ts, on this registry.
    budgetSoftThresholds: new Counter({
      name: `${p}budget_soft_thresholds_total`,
      help: 'Budgets that crossed their softRatio (once per owner and period), by owner kind (key, team).',
      labelNames: ['scope'] as const,
      registers: [registry],
    }),
    // Per-target concurrency caps (src/routing/target-concurrency.ts): only targets with maxConcurrent.
    targetInflight: new Gauge({
      name: `${p}target_inflight`,
      help: 'Live requests holding a concurrency slot of a target (provider + model, over every route), streams until their end.',
      labelNames: ['provider', 'model'] as const,
      registers: [registry],
    }),
    targetQueueDepth: new Gauge({
      name: `${p}target_queue_depth`,
      help: 'Requests waiting for a concurrency slot of a target.',
      labelNames: ['provider', 'model'] as const,
      registers: [registry],
    }),
    targetQueueWait: new Histogram({
      name: `${p}target_queue_wait_seconds`,
      help: 'Time requests waited in a target\'s queue for a slot, whether they got one or gave up.',
      labelNames: ['provider', 'model'] as const,
      buckets: QUEUE_WAIT_BUCKETS,
      registers: [registry],
    }),
    targetQueueRejections: new Counter({
      name: `${p}target_queue_rejections_total`,
      help: 'Requests a target could not take (queue_full: its queue was full; wait_timeout: no slot within maxQueueWaitMs); they went on to the next target.',
      labelNames: ['provider', 'model', 'reason'] as const,
      registers: [registry],
    }),
    providerUp: new Gauge({
      name: `${p}provider_enabled`,
      help: '1 when a configured provider is enabled, 0 when disabled (e.g. credentials unset).',
      labelNames: ['provider', 'kind'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
