import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTinyModel } from '../models/gguf/ensure-tiny-model.js';

/** The built-in model is generated, never committed: make it once before any suite runs. */
export default async function setup(): Promise<void> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  await ensureTinyModel(path.join(root, 'models/tiny.gguf'));
}
