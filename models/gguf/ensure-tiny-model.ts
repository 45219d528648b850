/**
 * Generates the built-in tiny GGUF model on demand (used by the llama-cpp provider when a
 * `builtin` registry entry's file is missing, the test setup and models/make-tiny-model.ts).
 * Writes go to a unique temp file that is renamed into place, so concurrent processes never
 * observe a partial file; the output is deterministic, so whichever rename lands last leaves
 * identical bytes. Concurrent callers in one process share one generation.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DEFAULT_CORPUS_PATH, DEFAULT_TINY_MODEL_PATH } from '../paths.js';
import { buildTinyModel } from './tiny-llama.js';

export { DEFAULT_CORPUS_PATH, DEFAULT_TINY_MODEL_PATH };
export const DEFAULT_TINY_MODEL_SEED = 42;

export interface TinyModelFileOptions {
  corpusPath?: string;
  seed?: number;
  /** Regenerate even when the file exists. */
  force?: boolean;
}

export interface TinyModelFileResult {
  path: string;
  size: number;
  sha256: string;
  /** false when an existing file was kept. */
  generated: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Writes `data` to `path` via a unique temp file in the same directory and an atomic rename. */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data, { flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Builds the model bytes from the corpus file (deterministic for a given corpus and seed). */
export async function buildTinyModelFromCorpus(opts: Omit<TinyModelFileOptions, 'force'> = {}): Promise<Buffer> {
  const corpus = await readFile(opts.corpusPath ?? DEFAULT_CORPUS_PATH, 'utf8');
  return buildTinyModel({ corpus, seed: opts.seed ?? DEFAULT_TINY_MODEL_SEED });
}

/** Generates the tiny model at `path` (unless it exists and `force` is not set) and describes the file. */
export async function makeTinyModelFile(
  path: string = DEFAULT_TINY_MODEL_PATH,
  opts: TinyModelFileOptions = {},
): Promise<TinyModelFileResult> {
  const target = resolve(path);
  let generated = false;
  if (opts.force || !(await exists(target))) {
    await writeFileAtomic(target, await buildTinyModelFromCorpus(opts));
    generated = true;
  }
  const bytes = await readFile(target);
  return {
    path: target,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    generated,
  };
}

/** Generations in flight in this process, by absolute path: concurrent callers share one. */
const inFlight = new Map<string, Promise<boolean>>();

/**
 * Generates the tiny model (default corpus and seed) at `path` when no file is there. Resolves
 * true when this call, or the one it joined, wrote the file; false when it already existed.
 */
export function generateTinyModelIfMissing(path: string = DEFAULT_TINY_MODEL_PATH): Promise<boolean> {
  const target = resolve(path);
  let pending = inFlight.get(target);
  if (!pending) {
    pending = (async () => {
      if (await exists(target)) return false;
      await writeFileAtomic(target, await buildTinyModelFromCorpus());
      return true;
    })().finally(() => inFlight.delete(target));
    inFlight.set(target, pending);
  }
  return pending;
}

/**
 * Ensures the tiny model exists at `path` (relative paths resolve against the current working
 * directory; default models/tiny.gguf in the router's folder) and returns its absolute path.
 * Generates it only when missing.
 */
export async function ensureTinyModel(path: string = DEFAULT_TINY_MODEL_PATH): Promise<string> {
  await generateTinyModelIfMissing(path);
  return resolve(path);
}
