/**
 * The hot path's counters and histograms without prom-client's per-call work. `inc(labels, v)`
 * and `observe(labels, v)` build a labels object at the call site, then prom-client validates
 * its names, hashes it into a string and (histograms) allocates a closure and a pair object:
 * several allocations and a string build per call, ~3 % of the router's CPU per request with
 * six calls. Here a series is found from its label values (in the metric's `labelNames` order)
 * through nested Maps, no allocation, and its value is updated where prom-client keeps it, so
 * the registry exposes it as always (same series, same text, reset and remove still work).
 *
 * This reads prom-client's series storage (`hashMap`, keyed as its `hashObject` keys it; a
 * counter series `{ value, labels }`, a histogram series `{ labels, bucketValues, sum, count }`).
 * test/unit/observability/fast-metrics.test.ts holds the exposition equal to prom-client's own
 * `inc`/`observe` for the same calls, so an upgrade that changes the storage fails there.
 */
import type { Counter, Histogram } from 'prom-client';

/** Series kept per metric; past it the index starts over (label caps bound the series already). */
const MAX_CELLS = 10_000;

interface CounterSeries {
  value: number;
}
interface HistogramSeries {
  sum: number;
  count: number;
  bucketValues: Record<number, number>;
}
/** What prom-client keeps on a metric (see the header). */
interface Storage<S> {
  hashMap: Record<string, S | undefined>;
  labelNames: readonly string[];
  sortedLabelNames: readonly string[];
}

/** Label values → what the series of those values needs (made once), by nested Maps (one level per label). */
class CellIndex<T> {
  private root = new Map<string, unknown>();
  private size = 0;

  constructor(
    private readonly storage: Storage<unknown>,
    /** Makes a cell from the series' labels object and its key in prom-client's storage. */
    private readonly make: (labels: Record<string, string>, hash: string) => T,
  ) {}

  cell(values: readonly string[]): T {
    const names = this.storage.labelNames;
    if (values.length !== names.length) throw new TypeError(`expected ${names.length} label values (${names.join(', ')}), got ${values.length}`);
    let level = this.root;
    for (let i = 0; i < values.length - 1; i++) {
      let next = level.get(values[i]!) as Map<string, unknown> | undefined;
      if (!next) level.set(values[i]!, (next = new Map()));
      level = next;
    }
    const last = values.length ? values[values.length - 1]! : '';
    const found = level.get(last) as T | undefined;
    if (found) return found;
    if (++this.size > MAX_CELLS) {
      this.root = new Map();
      this.size = 0;
      return this.cell(values);
    }
    const labels: Record<string, string> = {};
    for (let i = 0; i < names.length; i++) labels[names[i]!] = values[i]!;
    const cell = this.make(labels, hashOf(this.storage, labels));
    level.set(last, cell);
    return cell;
  }
}

/** prom-client's hashObject of `labels` over a metric's sorted label names. */
function hashOf(storage: Storage<unknown>, labels: Record<string, string>): string {
  let hash = '';
  for (const k of storage.sortedLabelNames) if (labels[k] !== undefined) hash += `${k}:${labels[k]},`;
  return hash;
}

/** One counter series bound to its labels (as `counter.labels(labels)`, without hashing per inc). */
export interface BoundCounter {
  inc(value?: number): void;
}

function bound(counter: Counter<string>, labels: Record<string, string>, hash: string): BoundCounter {
  const storage = counter as unknown as Storage<CounterSeries>;
  return {
    inc(value = 1) {
      // prom-client's checks, in its words.
      if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
      if (value < 0) throw new Error('It is not possible to decrease a counter');
      const series = storage.hashMap[hash];
      // A new series (or one reset or removed since): prom-client creates it.
      if (series) series.value += value;
      else counter.inc(labels, value);
    },
  };
}

/**
 * `counter.labels(labels)` whose `inc` finds its series by a key computed once. The labels
 * object is kept as given (exposition lists labels in its key order, as prom-client's would).
 * Bound to the metric, not to a snapshot of its series: after a reset or a remove, the next
 * inc creates the series again, exactly as `counter.inc(labels, v)` would.
 */
export function boundCounter(counter: Counter<string>, labels: Record<string, string>): BoundCounter {
  return bound(counter, labels, hashOf(counter as unknown as Storage<unknown>, labels));
}

/** A counter's hot-path side: `inc([route, provider, …], v)`, label values in `labelNames` order. */
export class FastCounter {
  private readonly index: CellIndex<BoundCounter>;

  constructor(counter: Counter<string>) {
    this.index = new CellIndex(counter as unknown as Storage<unknown>, (labels, hash) => bound(counter, labels, hash));
  }

  inc(values: readonly string[], value = 1): void {
    this.index.cell(values).inc(value);
  }
}

/** A histogram's hot-path side: `observe([route, …], v)`, label values in `labelNames` order. */
export class FastHistogram {
  private readonly storage: Storage<HistogramSeries>;
  private readonly index: CellIndex<{ labels: Record<string, string>; hash: string }>;
  private readonly bounds: readonly number[];

  constructor(private readonly histogram: Histogram<string>) {
    this.storage = histogram as unknown as Storage<HistogramSeries>;
    this.index = new CellIndex(this.storage, (labels, hash) => ({ labels, hash }));
    this.bounds = (histogram as unknown as { upperBounds: number[] }).upperBounds;
  }

  observe(values: readonly string[], value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const cell = this.index.cell(values);
    const series = this.storage.hashMap[cell.hash];
    if (!series) return this.histogram.observe(cell.labels, value);
    series.sum += value;
    series.count += 1;
    // The first bucket whose bound holds it; above the last, only the count (+Inf) moves.
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        const b = bounds[i]!;
        if (Object.prototype.hasOwnProperty.call(series.bucketValues, b)) series.bucketValues[b]! += 1;
        return;
      }
    }
  }
}
