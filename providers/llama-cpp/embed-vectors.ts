/** Shaping a local model's raw pooled vectors into what OpenAI returns: L2-normalised, optionally shortened. */

/**
 * `v` scaled to unit length (in place, and returned). A zero vector stays zero: it has no
 * direction to keep, and dividing by 0 would give NaN, which JSON cannot carry.
 */
export function normalizeL2(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  if (sum === 0 || !Number.isFinite(sum)) return v;
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * scale;
  return v;
}

/**
 * The vector the app gets for `dimensions`: the first `dimensions` values renormalised (what
 * OpenAI documents for shortening text-embedding-3 vectors), or the whole vector normalised.
 * The caller checks `dimensions` ≤ the vector's length.
 */
export function shapeVector(raw: Float32Array, dimensions?: number): Float32Array {
  const v = dimensions !== undefined && dimensions < raw.length ? raw.slice(0, dimensions) : raw;
  return normalizeL2(v);
}
