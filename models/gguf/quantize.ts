/**
 * Tensor encoders for the GGUF writer: F32, F16 and Q8_0.
 *
 * Q8_0 (ggml `block_q8_0`): blocks of 32 values, each stored as 34 bytes:
 * an fp16 scale `d = max|x| / 127` followed by 32 int8 `q = round(x / d)`.
 * Blocks run along ne[0], so ne[0] must be a multiple of 32.
 */

export const Q8_0_BLOCK_SIZE = 32;
export const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK_SIZE;

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Converts a number to IEEE 754 half-precision bits (round to nearest even). */
export function float32ToFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;

  if (exp === 0xff) {
    // Inf / NaN
    return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  }
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    // Subnormal half (or zero).
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++; // may carry into exponent: still correct
  e = half >>> 10;
  if (e >= 0x1f) return sign | 0x7c00;
  return sign | half;
}

/** Converts IEEE 754 half-precision bits back to a number. */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Encodes values as little-endian float32. */
export function encodeF32(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true);
  return out;
}

/** Encodes values as Q8_0 blocks (same rounding as ggml's quantize_row_q8_0_ref). */
export function encodeQ8_0(values: ArrayLike<number>): Uint8Array {
  if (values.length % Q8_0_BLOCK_SIZE !== 0) {
    throw new Error(`Q8_0 needs a multiple of ${Q8_0_BLOCK_SIZE} values, got ${values.length}`);
  }
  const blocks = values.length / Q8_0_BLOCK_SIZE;
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * Q8_0_BLOCK_SIZE;
    let amax = 0;
    for (let i = 0; i < Q8_0_BLOCK_SIZE; i++) amax = Math.max(amax, Math.abs(values[base + i] as number));
    const d = amax / 127;
    const id = d !== 0 ? 1 / d : 0;
    const o = b * Q8_0_BLOCK_BYTES;
    view.setUint16(o, float32ToFloat16Bits(d), true);
    for (let i = 0; i < Q8_0_BLOCK_SIZE; i++) {
      const q = Math.round((values[base + i] as number) * id);
      view.setInt8(o + 2 + i, Math.max(-127, Math.min(127, q)));
    }
  }
  return out;
}

/** Decodes Q8_0 blocks back to numbers (used by tests and sanity checks). */
export function decodeQ8_0(data: Uint8Array): Float32Array {
  if (data.length % Q8_0_BLOCK_BYTES !== 0) throw new Error('truncated Q8_0 data');
  const blocks = data.length / Q8_0_BLOCK_BYTES;
  const out = new Float32Array(blocks * Q8_0_BLOCK_SIZE);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    const d = float16BitsToFloat32(view.getUint16(o, true));
    for (let i = 0; i < Q8_0_BLOCK_SIZE; i++) out[b * Q8_0_BLOCK_SIZE + i] = d * view.getInt8(o + 2 + i);
  }
  return out;
}
