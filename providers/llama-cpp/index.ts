/**
 * llama-cpp provider: local GGUF models run by node-llama-cpp in worker processes.
 * See provider.ts for the Provider mapping and model-host.ts for supervision.
 */
import type { LlamaProviderConfig } from './options.js';
import { LlamaCppProvider, type LlamaProviderContext } from './provider.js';

export { LlamaCppProvider, COMPACTED_HEADER, type LlamaProviderContext } from './provider.js';
export { loadRegistry, parseRegistry, RegistryError, type ModelRegistry, type RegistryEntry } from './registry.js';
export { checkModelFile, type ModelFileCheck } from './model-file.js';
export type { LlamaTuning } from './tuning.js';

export function createLlamaCppProvider(id: string, config: LlamaProviderConfig, ctx: LlamaProviderContext): LlamaCppProvider {
  return new LlamaCppProvider(id, config, ctx);
}
