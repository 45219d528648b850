/**
 * The q-quantile of a Prometheus histogram, as `histogram_quantile` computes it: find the
 * bucket holding the q-th observation and interpolate linearly inside it (the first bucket
 * starts at 0). `bounds` are the upper bounds in increasing order, the last one +Inf;
 * `cumulative` the matching counts. A quantile in the +Inf bucket is the highest finite
 * bound (the histogram cannot say more). Null when there are no observations.
 */
export function histogramQuantile(q: number, bounds: readonly number[], cumulative: ArrayLike<number>): number | null {
  const n = bounds.length;
  if (n === 0) return null;
  const total = cumulative[n - 1] ?? 0;
  if (!(total > 0)) return null;
  const rank = Math.min(Math.max(q, 0), 1) * total;
  let i = 0;
  while (i < n - 1 && (cumulative[i] ?? 0) < rank) i++;
  const upper = bounds[i]!;
  if (upper === Infinity) return n >= 2 ? bounds[n - 2]! : null;
  const lower = i === 0 ? 0 : bounds[i - 1]!;
  const below = i === 0 ? 0 : (cumulative[i - 1] ?? 0);
  const inBucket = (cumulative[i] ?? 0) - below;
  if (inBucket <= 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}
