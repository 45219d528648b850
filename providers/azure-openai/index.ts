/**
 * Assembles the Azure OpenAI provider from its own api.ts and the OpenAI adapter's
 * chat-complete and error classifier. Azure's extras (content_filter finish reason,
 * content_filter_results, prompt_filter_results) are read by the shared wire mapping; the
 * typings of @azure/openai add nothing here because answers are read as loose JSON.
 */
import type { AzureProviderConfig } from './options.js';
import type { Provider } from '../../src/core/provider.js';
import type { ProviderFactoryContext } from '../registry.js';
import { createUpstreamProvider } from '../openai/index.js';
import { createAzureApi } from './api.js';

export function createAzureOpenAIProvider(id: string, config: AzureProviderConfig, _ctx: ProviderFactoryContext): Provider {
  return createUpstreamProvider('azure-openai', createAzureApi(id, config), config.contextLength);
}
