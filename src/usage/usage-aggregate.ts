/**
 * Usage records → report rows: one row per distinct group (the values of the `groupBy`
 * dimensions), summing requests, tokens, cost (in integer nano-dollars, so sums are exact),
 * errors, and exact latency / time-to-first-token percentiles.
 */
import { nanosToUsd, usdToNanos } from '../accounting/cost.js';
import type { UsageRecord } from '../state/types.js';
import type { GroupDimension } from './usage-query.js';

/** One row of a report. */
export interface UsageRow {
  /** The value of each groupBy dimension; null when a record has none (no key, no provider…). */
  group: Partial<Record<GroupDimension, string | null>>;
  requests: number;
  tokens: { prompt: number; completion: number; cachedPrompt: number; reasoning: number };
  /** Sum of the known costs (records with a null cost add nothing here but count below). */
  costUsd: number;
  /** Requests whose cost is unknown (a model without a price). */
  costUnknownRequests: number;
  /** Requests whose outcome is not "ok". */
  errors: number;
  latencyMs: { p50: number | null; p99: number | null };
  /** Over the requests that have a time to first token (streams); null when none has. */
  ttftMs: { p50: number | null; p99: number | null };
}

/** A non-negative finite number, else 0 (a malformed record must not poison a sum). */
const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** The value of one dimension for a record. */
export function dimensionOf(r: UsageRecord, d: GroupDimension): string | null {
  switch (d) {
    case 'key':
      return r.keyId ?? null;
    case 'team':
      return r.team ?? null;
    case 'route':
      return r.route ?? null;
    case 'provider':
      return r.provider ?? null;
    case 'model':
      return r.model ?? null;
    case 'outcome':
      return r.outcome ?? null;
    case 'day':
    case 'hour': {
      const t = Date.parse(r.time);
      if (!Number.isFinite(t)) return null;
      const iso = new Date(t).toISOString();
      return d === 'day' ? iso.slice(0, 10) : `${iso.slice(0, 13)}:00:00Z`;
    }
  }
}

/** Nearest-rank percentile of sorted values (null when empty). */
export function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1]!;
}

/** A growable list of doubles (8 bytes a value, not a boxed array). */
class Samples {
  private data = new Float64Array(16);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

interface Acc {
  group: UsageRow['group'];
  requests: number;
  prompt: number;
  completion: number;
  cachedPrompt: number;
  reasoning: number;
  nanos: bigint;
  costUnknown: number;
  errors: number;
  latency: Samples;
  ttft: Samples;
}

const newAcc = (group: UsageRow['group']): Acc => ({
  group,
  requests: 0,
  prompt: 0,
  completion: 0,
  cachedPrompt: 0,
  reasoning: 0,
  nanos: 0n,
  costUnknown: 0,
  errors: 0,
  latency: new Samples(),
  ttft: new Samples(),
});

function addTo(a: Acc, r: UsageRecord): void {
  a.requests++;
  const t = r.tokens ?? { prompt: 0, completion: 0 };
  a.prompt += count(t.prompt);
  a.completion += count(t.completion);
  a.cachedPrompt += count(t.cachedPrompt);
  a.reasoning += count(t.reasoning);
  if (typeof r.costUsd === 'number' && Number.isFinite(r.costUsd)) a.nanos += BigInt(usdToNanos(r.costUsd));
  else a.costUnknown++;
  if (r.outcome !== 'ok') a.errors++;
  if (typeof r.latencyMs === 'number' && Number.isFinite(r.latencyMs) && r.latencyMs >= 0) a.latency.push(r.latencyMs);
  if (typeof r.ttftMs === 'number' && Number.isFinite(r.ttftMs) && r.ttftMs >= 0) a.ttft.push(r.ttftMs);
}

function rowOf(a: Acc): UsageRow & { nanos: bigint } {
  const lat = a.latency.sorted();
  const ttft = a.ttft.sorted();
  return {
    group: a.group,
    requests: a.requests,
    tokens: { prompt: a.prompt, completion: a.completion, cachedPrompt: a.cachedPrompt, reasoning: a.reasoning },
    costUsd: nanosToUsd(Number(a.nanos)),
    costUnknownRequests: a.costUnknown,
    errors: a.errors,
    latencyMs: { p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) },
    ttftMs: { p50: percentile(ttft, 0.5), p99: percentile(ttft, 0.99) },
    nanos: a.nanos,
  };
}

/** Accumulates records into groups and a total. */
export class UsageAggregator {
  private readonly groups = new Map<string, Acc>();
  private readonly total = newAcc({});

  constructor(private readonly groupBy: readonly GroupDimension[]) {}

  add(r: UsageRecord): void {
    const values = this.groupBy.map((d) => dimensionOf(r, d));
    const id = JSON.stringify(values);
    let acc = this.groups.get(id);
    if (!acc) {
      const group: UsageRow['group'] = {};
      this.groupBy.forEach((d, i) => (group[d] = values[i]!));
      this.groups.set(id, (acc = newAcc(group)));
    }
    addTo(acc, r);
    addTo(this.total, r);
  }

  /** Rows by cost (highest first), then requests, then group values; and the totals. */
  result(): { rows: UsageRow[]; totals: Omit<UsageRow, 'group'> } {
    const ids = new Map<object, string>();
    const rows = [...this.groups.entries()].map(([id, a]) => {
      const row = rowOf(a);
      ids.set(row, id);
      return row;
    });
    rows.sort((x, y) => (x.nanos !== y.nanos ? (y.nanos > x.nanos ? 1 : -1) : y.requests - x.requests || (ids.get(x)! < ids.get(y)! ? -1 : 1)));
    const strip = ({ nanos: _n, ...row }: UsageRow & { nanos: bigint }): UsageRow => row;
    const { group: _g, ...totals } = strip(rowOf(this.total));
    return { rows: rows.map(strip), totals };
  }
}
