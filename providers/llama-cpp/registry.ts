/**
 * The local model registry (models/registry.yaml): which GGUF files the llama-cpp provider may
 * serve and how. Read synchronously because `Provider.capabilities()` is synchronous; the file
 * is small and re-read only when its mtime or size changes.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';

/** An optional field that YAML may also spell `null` (or leave empty). */
function orNone<T extends z.ZodType>(schema: T) {
  return schema
    .nullish()
    .transform((value) => value ?? undefined);
}

export const registryEntrySchema = z.strictObject({
  /** GGUF path, relative to the registry file's folder. */
  file: z.string().min(1),
  /** Expected SHA-256 (hex) of the file; checked before the model is loaded. null or absent: not pinned. */
  sha256: orNone(z.string().regex(/^[0-9a-fA-F]{64}$/, '64 hex digits')),
  /** Tokens per sequence (the per-request context window). */
  contextSize: z.number().int().min(64).default(2048),
  /** CPU threads; 1 unless a machine has cores to spare (more threads than cores is very slow). */
  threads: z.number().int().min(1).default(1),
  /** Sequences served together. */
  parallel: z.number().int().min(1).max(64).default(1),
  /** A node-llama-cpp chat wrapper name (e.g. "chatML", "llama3.1") or a Jinja template; default: the GGUF's own. */
  chatTemplate: orNone(z.string().min(1)),
  description: orNone(z.string()),
  /** Advertise tool calling; only for models that really do function calling. */
  tools: z.boolean().default(false),
  /**
   * The router's built-in tiny model (models/gguf/): when `file` is missing the provider
   * generates it there on first use instead of reporting it missing. Absent: false.
   */
  builtin: z.boolean().optional(),
});

export const registrySchema = z.strictObject({
  models: z.record(z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, ".", "_", ":" or "-"'), registryEntrySchema),
});


type ParsedEntry = z.infer<typeof registryEntrySchema>;

export interface RegistryEntry extends Omit<ParsedEntry, 'sha256' | 'chatTemplate' | 'description'> {
  sha256?: string;
  chatTemplate?: string;
  description?: string;
  id: string;
  /** Absolute path of the GGUF file. */
  path: string;
}

export interface ModelRegistry {
  /** Absolute path of the registry file. */
  source: string;
  models: ReadonlyMap<string, RegistryEntry>;
}

/** The registry file is missing, unreadable or invalid. The message names the file, field and line. */
export class RegistryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RegistryError';
  }
}

/** Parses and validates registry YAML text; `source` is used for messages and to resolve files. */
export function parseRegistry(text: string, source: string): ModelRegistry {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const firstError = doc.errors[0];
  if (firstError) {
    const at = firstError.pos[0];
    throw new RegistryError(`${source}:${lineCounter.linePos(at).line}: invalid YAML: ${firstError.message.split('\n')[0]}`);
  }
  const parsed = registrySchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path ?? [];
    const node = doc.getIn(path as (string | number)[], true) as { range?: [number, number, number] } | undefined;
    const line = node?.range ? `:${lineCounter.linePos(node.range[0]).line}` : '';
    const field = path.length > 0 ? path.join('.') : '(root)';
    throw new RegistryError(`${source}${line}: ${field}: ${issue?.message ?? 'invalid registry'}`);
  }
  const folder = dirname(source);
  const models = new Map<string, RegistryEntry>();
  for (const [id, entry] of Object.entries(parsed.data.models)) {
    models.set(id, { ...entry, id, path: isAbsolute(entry.file) ? entry.file : resolve(folder, entry.file) });
  }
  return { source, models };
}

interface CachedRegistry {
  key: string;
  registry?: ModelRegistry;
  error?: RegistryError;
}

const cache = new Map<string, CachedRegistry>();

/**
 * Loads the registry at `path` (absolute), from cache while the file's mtime and size are
 * unchanged. Throws RegistryError; a failed load is cached too, so a broken file is not re-parsed
 * on every call, but it is re-read as soon as it changes.
 */
export function loadRegistry(path: string): ModelRegistry {
  let key: string;
  try {
    const st = statSync(path);
    key = `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch (err) {
    throw new RegistryError(`model registry ${path} is not readable: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const hit = cache.get(path);
  if (hit?.key === key) {
    if (hit.registry) return hit.registry;
    if (hit.error) throw hit.error;
  }
  try {
    const registry = parseRegistry(readFileSync(path, 'utf8'), path);
    cache.set(path, { key, registry });
    return registry;
  } catch (err) {
    const error = err instanceof RegistryError ? err : new RegistryError(`model registry ${path}: ${String(err)}`, { cause: err });
    cache.set(path, { key, error });
    throw error;
  }
}
