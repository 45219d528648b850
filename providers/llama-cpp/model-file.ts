/**
 * Checks a GGUF file before any worker loads it. llama.cpp trusts the file: a malformed one can
 * hit a GGML_ASSERT and abort the whole process, so the parent parses the header in plain JS
 * (readGgufFileInfo) and checks that every tensor lies inside the file (a truncated download
 * passes the header parse but would fault when llama.cpp reads the tensors). The worker
 * process boundary remains the last line of defence for what these checks cannot see.
 *
 * Results, good and bad, are cached by path + mtime + size + inode, so a replaced file is
 * re-checked on the next call and an unchanged one is not re-hashed.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

type ReadGgufFileInfo = typeof import('node-llama-cpp').readGgufFileInfo;

let reader: Promise<ReadGgufFileInfo> | undefined;

/**
 * node-llama-cpp's GGUF reader, imported on the first check: a router with no local model never
 * loads node-llama-cpp at all. The reader's own module (~6 MiB of RSS) rather than the package
 * index (~25 MiB: bindings, the downloader, CLI helpers, none of which this process uses; models
 * run in the worker). The package exports only its index, so the file is found next to
 * it; when a release moves it, the index serves (same function).
 */
function ggufReader(): Promise<ReadGgufFileInfo> {
  reader ??= (async () => {
    try {
      const file = join(dirname(createRequire(import.meta.url).resolve('node-llama-cpp')), 'gguf', 'readGgufFileInfo.js');
      if (existsSync(file)) {
        const mod = (await import(pathToFileURL(file).href)) as { readGgufFileInfo?: ReadGgufFileInfo };
        if (typeof mod.readGgufFileInfo === 'function') return mod.readGgufFileInfo;
      }
    } catch {
      /* the index below */
    }
    return (await import('node-llama-cpp')).readGgufFileInfo;
  })();
  reader.catch(() => (reader = undefined));
  return reader;
}

export interface ModelFileOk {
  ok: true;
  /** Identity of the checked file version (mtime, size, inode). */
  key: string;
  size: number;
  architecture: string;
  /** llama.context_length (or the architecture's equivalent) when the file states it. */
  trainContextLength?: number;
}

export interface ModelFileBad {
  ok: false;
  key: string;
  /** Names the file and the problem. */
  message: string;
}

export type ModelFileCheck = ModelFileOk | ModelFileBad;

/** Bytes per block and elements per block of the ggml types a model file commonly holds. */
const TYPE_LAYOUT: Record<number, [bytes: number, elements: number]> = {
  0: [4, 1], // F32
  1: [2, 1], // F16
  2: [18, 32], // Q4_0
  3: [20, 32], // Q4_1
  6: [22, 32], // Q5_0
  7: [24, 32], // Q5_1
  8: [34, 32], // Q8_0
  9: [36, 32], // Q8_1
  10: [84, 256], // Q2_K
  11: [110, 256], // Q3_K
  12: [144, 256], // Q4_K
  13: [176, 256], // Q5_K
  14: [210, 256], // Q6_K
  15: [292, 256], // Q8_K
  24: [1, 1], // I8
  25: [2, 1], // I16
  26: [4, 1], // I32
  27: [8, 1], // I64
  28: [8, 1], // F64
  30: [2, 1], // BF16
};

const hashCache = new Map<string, { key: string; sha256: string }>();
// Promises, so that concurrent first requests share one hash and one parse.
const checkCache = new Map<string, { key: string; expectedSha: string | undefined; result: Promise<ModelFileCheck> }>();

/** SHA-256 of a file, streamed (models are large), cached while the file is unchanged. */
export async function sha256File(path: string, key: string): Promise<string> {
  const hit = hashCache.get(path);
  if (hit?.key === key) return hit.sha256;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  hashCache.set(path, { key, sha256 });
  return sha256;
}

function tensorBytes(ggmlType: number, dimensions: readonly (number | bigint)[]): number | undefined {
  const layout = TYPE_LAYOUT[ggmlType];
  if (!layout) return undefined;
  const elements = dimensions.reduce<number>((n, d) => n * Number(d), 1);
  return Math.ceil(elements / layout[1]) * layout[0];
}

async function inspect(path: string, key: string, size: number, expectedSha: string | undefined): Promise<ModelFileCheck> {
  const bad = (problem: string): ModelFileBad => ({ ok: false, key, message: `model file ${path}: ${problem}` });
  if (expectedSha) {
    const actual = await sha256File(path, key);
    if (actual.toLowerCase() !== expectedSha.toLowerCase()) {
      return bad(`sha256 mismatch (expected ${expectedSha.toLowerCase()}, file has ${actual})`);
    }
  }
  // Outside the try: a reader that cannot be loaded says nothing about the file (not cached, see checkModelFile).
  const readGgufFileInfo = await ggufReader();
  let info: Awaited<ReturnType<ReadGgufFileInfo>>;
  try {
    info = await readGgufFileInfo(path, { readTensorInfo: true, sourceType: 'filesystem', logWarnings: false });
  } catch (err) {
    return bad(`not a readable GGUF file (${err instanceof Error ? err.message : String(err)})`);
  }
  const architecture: unknown = info.metadata?.general?.architecture;
  if (typeof architecture !== 'string' || architecture === '') return bad('GGUF metadata names no general.architecture');
  const tensors = info.fullTensorInfo ?? info.tensorInfo ?? [];
  if (tensors.length === 0) return bad('GGUF file holds no tensors');
  for (const tensor of tensors) {
    const start = Number(tensor.fileOffset);
    const bytes = tensorBytes(tensor.ggmlType, tensor.dimensions) ?? 1;
    if (!Number.isFinite(start) || start + bytes > size) {
      return bad(`truncated or corrupt: tensor "${tensor.name}" ends at byte ${start + bytes} but the file has ${size} bytes`);
    }
  }
  const archMeta = info.architectureMetadata as { context_length?: number | bigint } | undefined;
  const trainContextLength = archMeta?.context_length == null ? undefined : Number(archMeta.context_length);
  return { ok: true, key, size, architecture, trainContextLength };
}

/** Checks the model file at `path` (absolute) against its GGUF structure and optional SHA-256. */
export async function checkModelFile(path: string, expectedSha?: string): Promise<ModelFileCheck> {
  let key: string;
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) return { ok: false, key: 'not-a-file', message: `model file ${path}: not a regular file` };
    key = `${st.mtimeMs}:${st.size}:${st.ino}`;
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, key: 'missing', message: `model file ${path}: ${code === 'ENOENT' ? 'not found' : `not readable (${code ?? String(err)})`}` };
  }
  const hit = checkCache.get(path);
  if (hit && hit.key === key && hit.expectedSha === expectedSha) return hit.result;
  const entry = {
    key,
    expectedSha,
    result: inspect(path, key, size, expectedSha).catch((err: unknown): ModelFileCheck => {
      // An I/O error says nothing about the file's content: check again next time.
      if (checkCache.get(path) === entry) checkCache.delete(path);
      return { ok: false, key, message: `model file ${path}: not readable (${err instanceof Error ? err.message : String(err)})` };
    }),
  };
  checkCache.set(path, entry);
  return entry.result;
}
