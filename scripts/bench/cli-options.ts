/** What the bench scripts share for their command lines and repeatable input. */

/** A numeric option, at least `min` (and whole when `integer`); a bad one ends the script with exit 2, naming it. */
export function numberOption(name: string, v: string | undefined, min: number, opts: { integer?: boolean } = {}): number {
  const n = Number(v);
  if (opts.integer ? !Number.isInteger(n) || n < min : !Number.isFinite(n) || n < min) {
    console.error(`--${name} must be ${opts.integer ? 'an integer' : 'a number'} ≥ ${min} (got ${v})`);
    process.exit(2);
  }
  return n;
}

/** mulberry32: a small seeded PRNG, so a run's input can be repeated. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
