/**
 * Where the router's own files are at run time. The same code runs from the sources (tsx,
 * vitest: models/paths.ts) and compiled (node: dist/models/paths.js), so a fixed number of '..'
 * from import.meta.url would point into dist/ once built. The package root is instead the
 * nearest folder above this file that holds package.json (dist/ has none); models/ and
 * config/ are read from there, never copied into dist/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  for (let dir = start; ; ) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    // No package.json anywhere above: assume the source layout (this file in models/).
    if (parent === dir) return dirname(start);
    dir = parent;
  }
}

/** The router's root folder (holds package.json, models/, config/). */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
/** The router's models/ folder: registry.yaml, corpus.txt, the GGUF files. */
export const MODELS_DIR = join(PACKAGE_ROOT, 'models');
/** The registry a llama-cpp provider reads when its config names none. */
export const DEFAULT_REGISTRY_PATH = join(MODELS_DIR, 'registry.yaml');
/** The text the built-in tiny model is fitted on. */
export const DEFAULT_CORPUS_PATH = join(MODELS_DIR, 'corpus.txt');
/** Where the built-in tiny model lives by default. */
export const DEFAULT_TINY_MODEL_PATH = join(MODELS_DIR, 'tiny.gguf');
