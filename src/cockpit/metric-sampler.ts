import type { Registry } from 'prom-client';
import { RollingSeries } from './time-ring.js';

/**
 * What to keep of one metric of the registry: counters and histograms become rolling series
 * of their increases, grouped by the `by` labels (the other labels are summed); gauges keep
 * only their latest values.
 */
export interface SampledMetric {
  kind: 'counter' | 'histogram' | 'gauge';
  /** Metric name in the registry; a metric that is not (yet) registered is skipped. */
  name: string;
  /** Labels a group is made of. */
  by: readonly string[];
  /** Groups kept (default: the sampler's `maxGroups`); later ones are summed under "other". */
  maxGroups?: number;
}

/** A group of series: its label values (in `by` order) and what was seen of it. */
export interface SampledGroup {
  labels: Record<string, string>;
  /** Counters: width 1; histograms: one per bucket (cumulative), then sum, then count. */
  series: RollingSeries;
}

export interface MetricSamplerOptions {
  registry: Registry;
  metrics: Record<string, SampledMetric>;
  now?: () => number;
  /** Groups kept per metric; later ones are summed into a group whose labels are all "other". Default 200. */
  maxGroups?: number;
}

interface MetricState {
  spec: SampledMetric;
  /** The last raw values of every labelled series (full label set), to diff the next reading against. */
  last: Map<string, number[]>;
  groups: Map<string, SampledGroup>;
  /** Histograms: upper bounds, +Inf last. */
  bounds?: number[];
  /** Gauges: the latest values by group. */
  latest: Map<string, { labels: Record<string, string>; value: number }>;
  primed: boolean;
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

export const OTHER = 'other';

const seriesKey = (labels: Record<string, string | number>, skip?: string) =>
  Object.keys(labels)
    .filter((k) => k !== skip)
    .sort()
    .map((k) => `${k}=${String(labels[k])}`)
    .join('\u0000');

/**
 * Reads chosen metrics of the prom-client registry once a tick and turns their growth into
 * rolling per-second and per-15-second series, so the dashboard needs no hook anywhere in the
 * request path. A counter that went down was reset (its series removed and made again, or a
 * new registry): its whole new value is growth, as Prometheus's rate() counts it. The first
 * reading of a metric is the baseline: what happened before the sampler started is unknown.
 */
export class MetricSampler {
  private readonly registry: Registry;
  private readonly now: () => number;
  private readonly maxGroups: number;
  private readonly states = new Map<string, MetricState>();
  /** When the first tick ran (the charts say nothing of the time before). */
  startedAt: number | undefined;
  lastTickAt: number | undefined;

  constructor(opts: MetricSamplerOptions) {
    this.registry = opts.registry;
    this.now = opts.now ?? Date.now;
    this.maxGroups = opts.maxGroups ?? 200;
    for (const [id, spec] of Object.entries(opts.metrics)) this.states.set(id, { spec, last: new Map(), groups: new Map(), latest: new Map(), primed: false });
  }

  /** Reads every metric once. */
  async tick(): Promise<void> {
    const t = this.now();
    this.startedAt ??= t;
    for (const st of this.states.values()) {
      const metric = this.registry.getSingleMetric(st.spec.name);
      if (!metric) continue;
      const { values } = (await metric.get()) as { values: MetricValue[] };
      if (st.spec.kind === 'gauge') this.readGauge(st, values);
      else if (st.spec.kind === 'counter') this.readCounter(st, values, t);
      else this.readHistogram(st, values, t);
      st.primed = true;
    }
    this.lastTickAt = t;
  }

  /** The groups of a metric (by its id in `metrics`). */
  groups(id: string): SampledGroup[] {
    return [...(this.states.get(id)?.groups.values() ?? [])];
  }

  /** Upper bounds of a histogram's buckets (+Inf last), once read. */
  bounds(id: string): readonly number[] {
    return this.states.get(id)?.bounds ?? [];
  }

  /** Latest values of a gauge, by group. */
  gauge(id: string): Array<{ labels: Record<string, string>; value: number }> {
    return [...(this.states.get(id)?.latest.values() ?? [])];
  }

  private group(st: MetricState, labels: Record<string, string | number>, width: number): SampledGroup {
    const picked: Record<string, string> = {};
    for (const k of st.spec.by) picked[k] = labels[k] === undefined ? '' : String(labels[k]);
    let key = st.spec.by.map((k) => picked[k]).join('\u0000');
    let g = st.groups.get(key);
    if (g) return g;
    if (st.groups.size >= (st.spec.maxGroups ?? this.maxGroups)) {
      for (const k of st.spec.by) picked[k] = OTHER;
      key = st.spec.by.map(() => OTHER).join('\u0000');
      g = st.groups.get(key);
      if (g) return g;
    }
    g = { labels: picked, series: new RollingSeries(width) };
    st.groups.set(key, g);
    return g;
  }

  private readGauge(st: MetricState, values: MetricValue[]): void {
    st.latest.clear();
    for (const v of values) {
      const picked: Record<string, string> = {};
      for (const k of st.spec.by) picked[k] = v.labels[k] === undefined ? '' : String(v.labels[k]);
      const key = st.spec.by.map((k) => picked[k]).join('\u0000');
      const g = st.latest.get(key);
      if (g) g.value += v.value;
      else st.latest.set(key, { labels: picked, value: v.value });
    }
  }

  private readCounter(st: MetricState, values: MetricValue[], t: number): void {
    const seen = new Set<string>();
    for (const v of values) {
      const key = seriesKey(v.labels);
      seen.add(key);
      const before = st.last.get(key)?.[0];
      st.last.set(key, [v.value]);
      const delta = before === undefined ? (st.primed ? v.value : 0) : v.value >= before ? v.value - before : v.value;
      if (delta > 0) this.group(st, v.labels, 1).series.add(t, [delta]);
    }
    for (const key of st.last.keys()) if (!seen.has(key)) st.last.delete(key);
  }

  private readHistogram(st: MetricState, values: MetricValue[], t: number): void {
    // One labelled series = its buckets, _sum and _count, gathered by the labels other than le.
    const series = new Map<string, { labels: Record<string, string | number>; buckets: Map<number, number>; sum: number; count: number }>();
    for (const v of values) {
      const key = seriesKey(v.labels, 'le');
      let s = series.get(key);
      if (!s) series.set(key, (s = { labels: v.labels, buckets: new Map(), sum: 0, count: 0 }));
      if (v.metricName?.endsWith('_bucket')) s.buckets.set(v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), v.value);
      else if (v.metricName?.endsWith('_sum')) s.sum = v.value;
      else if (v.metricName?.endsWith('_count')) s.count = v.value;
    }
    const first = series.values().next().value;
    if (!first) return;
    st.bounds ??= [...first.buckets.keys()].sort((a, b) => a - b);
    const bounds = st.bounds;
    const width = bounds.length + 2;
    const seen = new Set<string>();
    for (const [key, s] of series) {
      seen.add(key);
      const now = [...bounds.map((b) => s.buckets.get(b) ?? 0), s.sum, s.count];
      const before = st.last.get(key);
      st.last.set(key, now);
      let delta: number[];
      if (!before) delta = st.primed ? now : [];
      else if (now[width - 1]! < before[width - 1]!) delta = now;
      else delta = now.map((x, i) => x - before[i]!);
      if (delta.length && delta[width - 1]! > 0) this.group(st, s.labels, width).series.add(t, delta);
    }
    for (const key of st.last.keys()) if (!seen.has(key)) st.last.delete(key);
  }
}
