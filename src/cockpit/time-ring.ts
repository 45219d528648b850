/**
 * Fixed-size rings of time slots, each slot a vector of `width` numbers (a counter's increase:
 * width 1; a histogram's: its cumulative buckets, sum and count). Memory is bounded by
 * construction: a slot is reused, zeroed, when the ring comes round to it again.
 */
export class TimeRing {
  private readonly data: Float64Array;
  /** The slot number (time / slotMs) each position holds, -1 when none. */
  private readonly stamps: Float64Array;

  constructor(
    readonly slotMs: number,
    readonly slots: number,
    readonly width: number,
  ) {
    this.data = new Float64Array(slots * width);
    this.stamps = new Float64Array(slots).fill(-1);
  }

  /** Adds `values` to the slot of time `t` (ms). */
  add(t: number, values: ArrayLike<number>): void {
    const s = Math.floor(t / this.slotMs);
    const i = s % this.slots;
    const base = i * this.width;
    if (this.stamps[i] !== s) {
      this.stamps[i] = s;
      this.data.fill(0, base, base + this.width);
    }
    for (let k = 0; k < this.width; k++) this.data[base + k]! += values[k] ?? 0;
  }

  /** The slot of number `s`, or undefined when the ring no longer (or never) held it. */
  private slot(s: number): Float64Array | undefined {
    const i = s % this.slots;
    return this.stamps[i] === s ? this.data.subarray(i * this.width, (i + 1) * this.width) : undefined;
  }

  /**
   * Sums over bins of `stepMs` (a multiple of slotMs) covering [from, to): one vector per bin.
   * Times older than the ring's reach count as zero.
   */
  bins(from: number, to: number, stepMs: number): Float64Array[] {
    const n = Math.max(0, Math.ceil((to - from) / stepMs));
    const out = Array.from({ length: n }, () => new Float64Array(this.width));
    const first = Math.max(Math.floor(from / this.slotMs), Math.floor((to - 1) / this.slotMs) - this.slots + 1);
    const last = Math.floor((to - 1) / this.slotMs);
    for (let s = first; s <= last; s++) {
      const v = this.slot(s);
      if (!v) continue;
      const b = Math.floor((s * this.slotMs - from) / stepMs);
      const bin = out[b];
      if (!bin) continue;
      for (let k = 0; k < this.width; k++) bin[k]! += v[k]!;
    }
    return out;
  }

  /** The sum over [from, to). */
  sum(from: number, to: number): Float64Array {
    return this.bins(from, to, Math.max(this.slotMs, to - from))[0] ?? new Float64Array(this.width);
  }
}

/** Per-second slots for the last 5 minutes, 15-second slots for the last hour (and a minute to spare: a window ends at the end of its current bin). */
export const FINE = { slotMs: 1_000, slots: 300 } as const;
export const COARSE = { slotMs: 15_000, slots: 244 } as const;

/** One series at two resolutions, plus its total since it was first seen. */
export class RollingSeries {
  readonly fine: TimeRing;
  readonly coarse: TimeRing;
  readonly total: Float64Array;

  constructor(readonly width: number) {
    this.fine = new TimeRing(FINE.slotMs, FINE.slots, width);
    this.coarse = new TimeRing(COARSE.slotMs, COARSE.slots, width);
    this.total = new Float64Array(width);
  }

  add(t: number, values: ArrayLike<number>): void {
    this.fine.add(t, values);
    this.coarse.add(t, values);
    for (let k = 0; k < this.width; k++) this.total[k]! += values[k] ?? 0;
  }

  /** The ring that covers a window of `ms` at the finest resolution. */
  ringFor(ms: number): TimeRing {
    return ms <= FINE.slotMs * FINE.slots ? this.fine : this.coarse;
  }
}
