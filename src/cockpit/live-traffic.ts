import { histogramQuantile } from './histogram-quantile.js';
import type { MetricSampler, SampledGroup } from './metric-sampler.js';
import { binSeconds, binsOf, round, sumOf, type Frame } from './dashboard-metrics.js';

/** Outcomes of a request that was answered (from an upstream, the cache, or a shared call). */
export const ANSWERED = new Set(['ok', 'cache_hit', 'cache_stale', 'coalesced']);

/** Chart points: one value per bin of the frame, from `from` on, `stepMs` apart. */
export interface Line {
  label: string;
  values: Array<number | null>;
}

export interface TrafficRow {
  route: string;
  provider: string;
  requests: number;
  errors: number;
  perSecond: number;
  latencyMs: { p50: number | null; p99: number | null };
  ttftMs: { p50: number | null; p99: number | null };
}

export interface TrafficView {
  requests: number;
  errors: number;
  perSecond: number;
  /** Requests per second: the total, then the busiest route · provider pairs. */
  lines: Line[];
  rows: TrafficRow[];
}

export interface LatencyView {
  p50Ms: number | null;
  p99Ms: number | null;
  lines: Line[];
}

/** Most route · provider lines drawn besides the total (the table lists them all). */
const MAX_LINES = 5;

const pairOf = (labels: Record<string, string>) => `${labels.route} · ${labels.provider}`;

export function trafficView(sampler: MetricSampler, f: Frame): TrafficView {
  const secs = binSeconds(f);
  const pairs = new Map<string, { route: string; provider: string; requests: number; errors: number; bins: number[] }>();
  const totalBins = secs.map(() => 0);
  for (const g of sampler.groups('requests')) {
    const key = pairOf(g.labels);
    let p = pairs.get(key);
    if (!p) pairs.set(key, (p = { route: g.labels.route!, provider: g.labels.provider!, requests: 0, errors: 0, bins: secs.map(() => 0) }));
    const bins = binsOf(g, f);
    bins.forEach((b, i) => {
      p.bins[i]! += b[0]!;
      totalBins[i]! += b[0]!;
    });
    const n = sumOf(g, f)[0]!;
    p.requests += n;
    if (!ANSWERED.has(g.labels.outcome!)) p.errors += n;
  }
  const lat = quantilesBy(sampler, 'latency', f);
  const ttft = quantilesBy(sampler, 'ttft', f);
  const ranked = [...pairs.entries()].filter(([, p]) => p.requests > 0).sort((a, b) => b[1].requests - a[1].requests);
  const rate = (bins: number[]) => bins.map((n, i) => round(n / secs[i]!));
  const requests = ranked.reduce((s, [, p]) => s + p.requests, 0);
  return {
    requests,
    errors: ranked.reduce((s, [, p]) => s + p.errors, 0),
    perSecond: round(requests / f.seconds),
    lines: [{ label: 'all', values: rate(totalBins) }, ...ranked.slice(0, MAX_LINES).map(([label, p]) => ({ label, values: rate(p.bins) }))],
    rows: ranked.map(([key, p]) => ({
      route: p.route,
      provider: p.provider,
      requests: p.requests,
      errors: p.errors,
      perSecond: round(p.requests / f.seconds),
      latencyMs: lat.get(key) ?? { p50: null, p99: null },
      ttftMs: ttft.get(key) ?? { p50: null, p99: null },
    })),
  };
}

const ms = (seconds: number | null) => (seconds === null ? null : round(seconds * 1000, 1));

/** p50 and p99 over the frame of each route · provider pair of a histogram. */
function quantilesBy(sampler: MetricSampler, id: 'latency' | 'ttft', f: Frame): Map<string, { p50: number | null; p99: number | null }> {
  const bounds = sampler.bounds(id);
  const out = new Map<string, { p50: number | null; p99: number | null }>();
  for (const g of sampler.groups(id)) {
    const s = sumOf(g, f);
    out.set(pairOf(g.labels), { p50: ms(histogramQuantile(0.5, bounds, s)), p99: ms(histogramQuantile(0.99, bounds, s)) });
  }
  return out;
}

/**
 * p50 and p99 of a histogram (request latency or time to first token) over the frame and per
 * bin, over every group that `pick` takes (default: all).
 */
export function latencyView(sampler: MetricSampler, id: 'latency' | 'ttft', f: Frame, pick: (g: SampledGroup) => boolean = () => true): LatencyView {
  const bounds = sampler.bounds(id);
  const width = bounds.length + 2;
  const n = Math.ceil((f.to - f.from) / f.stepMs);
  const perBin = Array.from({ length: n }, () => new Float64Array(width));
  const all = new Float64Array(width);
  for (const g of sampler.groups(id)) {
    if (!pick(g)) continue;
    binsOf(g, f).forEach((b, i) => b.forEach((v, k) => (perBin[i]![k]! += v)));
    sumOf(g, f).forEach((v, k) => (all[k]! += v));
  }
  return {
    p50Ms: ms(histogramQuantile(0.5, bounds, all)),
    p99Ms: ms(histogramQuantile(0.99, bounds, all)),
    lines: [
      { label: 'p50', values: perBin.map((b) => ms(histogramQuantile(0.5, bounds, b))) },
      { label: 'p99', values: perBin.map((b) => ms(histogramQuantile(0.99, bounds, b))) },
    ],
  };
}
