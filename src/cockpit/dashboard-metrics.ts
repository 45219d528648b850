import type { MetricSampler, SampledGroup, SampledMetric } from './metric-sampler.js';

/**
 * The metrics the dashboard reads from the router's registry (see src/observability/metrics.ts,
 * usage-metrics.ts and feature-runtime.ts for what each one counts). Memory per group is fixed
 * (544 slots × width: 8 bytes × 1 for a counter, × 16 for a latency histogram, ≈ 70 kB), so
 * the group caps bound it: histograms keep fewer groups than the per-key counters.
 */
export const DASHBOARD_METRICS = {
  requests: { kind: 'counter', name: 'llm_router_requests_total', by: ['route', 'provider', 'outcome'] },
  latency: { kind: 'histogram', name: 'llm_router_request_duration_seconds', by: ['route', 'provider'], maxGroups: 64 },
  ttft: { kind: 'histogram', name: 'llm_router_time_to_first_token_seconds', by: ['route', 'provider'], maxGroups: 64 },
  fallbacks: { kind: 'counter', name: 'llm_router_fallbacks_total', by: ['route', 'from', 'to', 'kind'] },
  cost: { kind: 'counter', name: 'llm_router_cost_usd_total', by: ['key'], maxGroups: 500 },
  keyTokens: { kind: 'counter', name: 'llm_router_key_tokens_total', by: ['key', 'type'], maxGroups: 2000 },
  refusals: { kind: 'counter', name: 'llm_router_limit_refusals_total', by: ['route', 'kind'] },
  cache: { kind: 'counter', name: 'llm_router_cache_lookups_total', by: ['result'] },
  tokens: { kind: 'counter', name: 'llm_router_tokens_total', by: ['provider', 'type', 'traffic'] },
  queueDepth: { kind: 'gauge', name: 'llm_router_target_queue_depth', by: ['provider', 'model'] },
  inflight: { kind: 'gauge', name: 'llm_router_target_inflight', by: ['provider', 'model'] },
  providers: { kind: 'gauge', name: 'llm_router_provider_enabled', by: ['provider', 'kind'] },
} as const satisfies Record<string, SampledMetric>;

export type DashboardMetricId = keyof typeof DASHBOARD_METRICS;

/** The windows the charts offer: length and the width of one chart point. */
export const WINDOWS = {
  '5m': { ms: 5 * 60_000, stepMs: 5_000 },
  '15m': { ms: 15 * 60_000, stepMs: 15_000 },
  '60m': { ms: 60 * 60_000, stepMs: 30_000 },
} as const;

export type WindowName = keyof typeof WINDOWS;

export const isWindowName = (s: unknown): s is WindowName => typeof s === 'string' && Object.hasOwn(WINDOWS, s);

/** A window placed in time: bins of `stepMs` from `from` to `to`, the last one still filling. */
export interface Frame {
  name: WindowName;
  from: number;
  to: number;
  stepMs: number;
  now: number;
  /** Seconds the window really covers (less when the sampler started within it). */
  seconds: number;
}

export function frameOf(name: WindowName, now: number, startedAt: number | undefined): Frame {
  const { ms, stepMs } = WINDOWS[name];
  const to = (Math.floor(now / stepMs) + 1) * stepMs;
  const from = to - ms;
  const covered = startedAt === undefined ? 0 : now - Math.max(from, startedAt);
  return { name, from, to, stepMs, now, seconds: Math.max(1, Math.min(ms, covered) / 1000) };
}

/** A group's bins over a frame. */
export const binsOf = (g: SampledGroup, f: Frame): Float64Array[] => g.series.ringFor(f.to - f.from).bins(f.from, f.to, f.stepMs);
/** A group's sum over a frame. */
export const sumOf = (g: SampledGroup, f: Frame): Float64Array => g.series.ringFor(f.to - f.from).sum(f.from, f.to);

/** Seconds each bin of a frame has covered so far (the last one is still filling). */
export function binSeconds(f: Frame): number[] {
  const n = Math.ceil((f.to - f.from) / f.stepMs);
  return Array.from({ length: n }, (_, i) => {
    const start = f.from + i * f.stepMs;
    return Math.max(1, Math.min(f.stepMs, f.now - start) / 1000);
  });
}

/** Sums of the first value of every group matching `pick`, over a frame. */
export function total(sampler: MetricSampler, id: DashboardMetricId, f: Frame, pick: (labels: Record<string, string>) => boolean = () => true): number {
  let n = 0;
  for (const g of sampler.groups(id)) if (pick(g.labels)) n += sumOf(g, f)[0] ?? 0;
  return n;
}

/** Rounds for the wire (charts and tables need no more digits than this). */
export const round = (v: number, digits = 3): number => {
  const p = 10 ** digits;
  return Math.round(v * p) / p;
};
