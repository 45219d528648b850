/**
 * Embedding vectors on the wire: base64 of little-endian float32 (OpenAI's `base64` encoding,
 * and what the SDK asks upstreams for by default) and JSON numbers (`float`).
 */
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/** The bytes of `v` as little-endian float32, on any platform. */
function littleEndianBytes(v: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const out = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) out.writeFloatLE(v[i]!, i * 4);
  return out;
}

/** `base64` encoding_format: the vector's float32 values, little-endian, in base64. */
export function float32ToBase64(v: Float32Array): string {
  return littleEndianBytes(v).toString('base64');
}

/** Reads a base64 vector of little-endian float32 values; throws when its length is not a whole number of floats. */
export function base64ToFloat32(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0) throw new TypeError(`base64 embedding of ${bytes.length} bytes is not a whole number of float32 values`);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/**
 * One float32 value as a JSON number: 9 significant digits always read back as the same
 * float32, so `float` and `base64` answers carry identical vectors, in about 13 characters a
 * value rather than the 20 of a double's shortest form.
 */
function formatFloat32(x: number): string {
  if (!Number.isFinite(x)) return '0';
  return String(Number(x.toPrecision(9)));
}

/** `float` encoding_format: the vector as a JSON array text. */
export function float32ToJson(v: Float32Array): string {
  const parts = new Array<string>(v.length);
  for (let i = 0; i < v.length; i++) parts[i] = formatFloat32(v[i]!);
  return `[${parts.join(',')}]`;
}
