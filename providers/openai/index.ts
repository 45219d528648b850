/** Assembles the OpenAI provider: api.ts (where) + chat-complete.ts (what). */
import type { OpenAIProviderConfig } from './options.js';
import type { Capabilities, Provider } from '../../src/core/provider.js';
import type { ProviderFactoryContext } from '../registry.js';
import { ownValue } from '../shared/options.js';
import { createOpenAIApi, type OpenAIApiOptions, type UpstreamApi } from './api.js';
import { chatComplete, streamComplete } from './chat-complete.js';
import { knownEmbeddingDimensions } from './embedding-models.js';
import { createEmbeddings } from './embeddings.js';

/** What an OpenAI-style chat model can do; the context window only when the operator told us (own keys only). */
export function openAICapabilities(contextLength: Record<string, number> | undefined, model: string): Capabilities {
  const caps: Capabilities = { tools: true, jsonObject: true, jsonSchema: true, maxChoices: 128, vision: true };
  const ctx = ownValue(contextLength, model);
  if (ctx !== undefined) caps.contextLength = ctx;
  return caps;
}

/** A Provider over any UpstreamApi; OpenAI and Azure differ only in the api they pass. */
export function createUpstreamProvider(kind: string, api: UpstreamApi, contextLength: Record<string, number> | undefined): Provider {
  return {
    id: api.providerId,
    kind,
    capabilities: (model) => openAICapabilities(contextLength, model),
    chat: (req, target, opts) => chatComplete(api, req, target, opts),
    stream: (req, target, opts) => streamComplete(api, req, target, opts),
    embed: (req, target, opts) => createEmbeddings(api, req, target, opts),
    embeddingDimensions: (model) => knownEmbeddingDimensions(model),
    health: () => api.health(),
    // The provider's own connection pool: calls still in flight fail, every socket closes.
    close: async () => api.close(),
  };
}

export function createOpenAIProvider(
  id: string,
  config: OpenAIProviderConfig,
  ctx: ProviderFactoryContext,
  opts: Omit<OpenAIApiOptions, 'onKeyRested'> = {},
): Provider {
  const api = createOpenAIApi(id, config, {
    ...opts,
    onKeyRested: ({ index, restMs, error }) =>
      ctx.logger.warn({ provider: id, keyIndex: index, restMs, kind: error.kind, status: error.status }, 'API key rested'),
  });
  return createUpstreamProvider('openai', api, config.contextLength);
}
