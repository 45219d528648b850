/**
 * Maps a config `kind` to the factory that builds its provider. src/ knows this registry and
 * the Provider interface, never an adapter's files.
 */
import type { Logger } from 'pino';
import type { ProviderConfig } from '../src/config/schema.js';
import type { Provider } from '../src/core/provider.js';
import { createOpenAIProvider } from './openai/index.js';
import { createAzureOpenAIProvider } from './azure-openai/index.js';
import { createLlamaCppProvider } from './llama-cpp/index.js';
import { createRulesProvider } from './rules/index.js';

export interface ProviderFactoryContext {
  logger: Logger;
  /** Directory relative paths in the config (model registry, model files) resolve against. */
  baseDir: string;
}

export type ProviderFactory<C extends ProviderConfig = ProviderConfig> = (id: string, config: C, ctx: ProviderFactoryContext) => Provider;

type FactoryMap = { [K in ProviderConfig['kind']]: ProviderFactory<Extract<ProviderConfig, { kind: K }>> };

const factories: FactoryMap = {
  openai: createOpenAIProvider,
  'azure-openai': createAzureOpenAIProvider,
  'llama-cpp': createLlamaCppProvider,
  rules: createRulesProvider,
};

export function createProvider(id: string, config: ProviderConfig, ctx: ProviderFactoryContext): Provider {
  const factory = factories[config.kind] as ProviderFactory;
  return factory(id, config, ctx);
}
