/**
 * Minimal GGUF v3 writer.
 *
 * Layout (little endian):
 *   magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
 *   kv*:     key (u64 len + utf8) | value_type u32 | value
 *   tensor*: name | n_dims u32 | ne[0..n_dims) u64 (ne[0] = contiguous dim) | ggml_type u32 | offset u64
 *   padding to `general.alignment`, then the data section: tensors contiguous in
 *   tensor-info order, each one padded to the alignment.
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** GGUF metadata value types (gguf_type). Plain objects, not enums, to stay erasable-syntax friendly. */
export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** The ggml tensor types this writer emits. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q8_0: 8,
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

const GGML_TYPE_NAMES: Record<GgmlType, string> = { 0: 'F32', 1: 'F16', 8: 'Q8_0' };

export type GgufMetadataValue =
  | { type: 'uint32'; value: number }
  | { type: 'int32'; value: number }
  | { type: 'float32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'int32[]'; value: ArrayLike<number> }
  | { type: 'float32[]'; value: ArrayLike<number> };

export interface GgufTensor {
  name: string;
  /** Dimensions, ne[0] first (ne[0] is the inner, contiguous dimension). */
  dims: readonly number[];
  type: GgmlType;
  /** Already-encoded tensor bytes (see quantize.ts). */
  data: Uint8Array;
}

export interface GgufFile {
  metadata: ReadonlyArray<readonly [string, GgufMetadataValue]>;
  tensors: readonly GgufTensor[];
  /** Defaults to 32; also written as `general.alignment` unless already present. */
  alignment?: number;
}

/** Bytes per block and values per block for each supported ggml type. */
const TYPE_LAYOUT: Record<GgmlType, { blockSize: number; blockBytes: number }> = {
  [GgmlType.F32]: { blockSize: 1, blockBytes: 4 },
  [GgmlType.F16]: { blockSize: 1, blockBytes: 2 },
  [GgmlType.Q8_0]: { blockSize: 32, blockBytes: 34 },
};

/** Expected byte size of a tensor's data; throws when ne[0] does not fit the block size. */
export function tensorByteSize(type: GgmlType, dims: readonly number[]): number {
  const { blockSize, blockBytes } = TYPE_LAYOUT[type];
  const ne0 = dims[0] ?? 1;
  if (ne0 % blockSize !== 0) {
    throw new Error(`ne[0]=${ne0} must be a multiple of ${blockSize} for ggml type ${GGML_TYPE_NAMES[type]}`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  return (count / blockSize) * blockBytes;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Growable little-endian byte sink. */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private ensure(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.length);
    this.length += 4;
  }

  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v | 0, this.length);
    this.length += 4;
  }

  u64(v: number | bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }

  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }

  pad(alignment: number): void {
    const target = alignUp(this.length, alignment);
    this.ensure(target - this.length);
    this.buf.fill(0, this.length, target);
    this.length = target;
  }

  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

function writeValue(sink: ByteSink, v: GgufMetadataValue): void {
  switch (v.type) {
    case 'uint32':
      sink.u32(GgufType.UINT32);
      sink.u32(v.value);
      return;
    case 'int32':
      sink.u32(GgufType.INT32);
      sink.i32(v.value);
      return;
    case 'float32':
      sink.u32(GgufType.FLOAT32);
      sink.f32(v.value);
      return;
    case 'bool':
      sink.u32(GgufType.BOOL);
      sink.u8(v.value ? 1 : 0);
      return;
    case 'string':
      sink.u32(GgufType.STRING);
      sink.str(v.value);
      return;
    case 'string[]':
      sink.u32(GgufType.ARRAY);
      sink.u32(GgufType.STRING);
      sink.u64(v.value.length);
      for (const s of v.value) sink.str(s);
      return;
    case 'int32[]':
      sink.u32(GgufType.ARRAY);
      sink.u32(GgufType.INT32);
      sink.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) sink.i32(v.value[i] as number);
      return;
    case 'float32[]':
      sink.u32(GgufType.ARRAY);
      sink.u32(GgufType.FLOAT32);
      sink.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) sink.f32(v.value[i] as number);
      return;
  }
}

/** Serialises a complete GGUF v3 file into one Buffer. */
export function writeGguf(file: GgufFile): Buffer {
  const alignment = file.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (alignment <= 0 || alignment % 8 !== 0) throw new Error(`invalid alignment ${alignment}`);

  const metadata = [...file.metadata];
  const keys = new Set<string>();
  for (const [key] of metadata) {
    if (keys.has(key)) throw new Error(`duplicate metadata key ${key}`);
    keys.add(key);
  }
  if (!keys.has('general.alignment')) {
    metadata.push(['general.alignment', { type: 'uint32', value: alignment }]);
  }

  const names = new Set<string>();
  const infos: Array<{ tensor: GgufTensor; offset: number }> = [];
  let offset = 0;
  for (const tensor of file.tensors) {
    if (names.has(tensor.name)) throw new Error(`duplicate tensor ${tensor.name}`);
    names.add(tensor.name);
    const expected = tensorByteSize(tensor.type, tensor.dims);
    if (tensor.data.length !== expected) {
      throw new Error(`tensor ${tensor.name}: ${tensor.data.length} bytes, expected ${expected}`);
    }
    infos.push({ tensor, offset });
    offset = alignUp(offset + expected, alignment);
  }

  const sink = new ByteSink();
  sink.u32(GGUF_MAGIC);
  sink.u32(GGUF_VERSION);
  sink.u64(file.tensors.length);
  sink.u64(metadata.length);
  for (const [key, value] of metadata) {
    sink.str(key);
    writeValue(sink, value);
  }
  for (const { tensor, offset: tensorOffset } of infos) {
    sink.str(tensor.name);
    sink.u32(tensor.dims.length);
    for (const d of tensor.dims) sink.u64(d);
    sink.u32(tensor.type);
    sink.u64(tensorOffset);
  }
  sink.pad(alignment);
  for (const { tensor } of infos) {
    sink.bytes(tensor.data);
    sink.pad(alignment);
  }
  return sink.toBuffer();
}
