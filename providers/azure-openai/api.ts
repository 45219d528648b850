/**
 * Where and how to call Azure OpenAI: `{endpoint}/openai/deployments/{deployment}/chat/completions
 * ?api-version=…` with an `api-key` header (or an Entra ID bearer token). Everything else is
 * the OpenAI adapter's.
 */
import { AzureOpenAI } from 'openai';
import type { AzureProviderConfig } from './options.js';
import { basePath, baseClientOptions, callHeaders, createChatHttp, createProviderPool, probeModels, type UpstreamApi } from '../openai/api.js';
import { ownValue } from '../shared/options.js';
import type { FetchLike } from '../shared/node-fetch.js';

/**
 * The deployment serving `model`: the configured one, else a deployment named like the model.
 * Own keys only: a model named `constructor` or `__proto__` is not a configured deployment.
 */
export function deploymentFor(config: Pick<AzureProviderConfig, 'deployments'>, model: string): string {
  return ownValue(config.deployments, model) ?? model;
}

export function buildAzureClient(config: AzureProviderConfig, fetch: FetchLike): AzureOpenAI {
  const { adToken, apiKey } = config;
  // baseURL rather than `endpoint`: the SDK would otherwise also read OPENAI_BASE_URL from the
  // environment and refuse to start when both are set.
  const baseURL = `${config.endpoint.replace(/\/+$/, '')}/openai`;
  return new AzureOpenAI({
    ...baseClientOptions(config.timeoutMs, config.headers, fetch),
    baseURL,
    apiVersion: config.apiVersion,
    ...(apiKey
      ? { apiKey }
      : {
          azureADTokenProvider: async () => adToken ?? '',
          // null, not undefined: undefined makes the SDK fall back to AZURE_OPENAI_API_KEY from the
          // environment, and a key next to a token provider is refused as ambiguous.
          apiKey: null as unknown as undefined,
        }),
  });
}

/** The Azure upstream: one client, the deployment in the path, no key rotation. */
export function createAzureApi(providerId: string, config: AzureProviderConfig): UpstreamApi {
  if (!config.apiKey && !config.adToken) throw new Error(`provider "${providerId}": no apiKey or adToken configured`);
  const http = createProviderPool(config);
  const client = buildAzureClient(config, http.fetch);
  const base = `${config.endpoint.replace(/\/+$/, '')}/openai`;
  const chatHttp = createChatHttp(base, config);
  const prefix = basePath(base);
  const version = `api-version=${encodeURIComponent(config.apiVersion)}`;
  // As the SDK sends them: an api-key header, or the Entra ID token as a bearer.
  const headers = callHeaders(config.apiKey ? { 'api-key': config.apiKey } : { authorization: `Bearer ${config.adToken ?? ''}` }, config.headers);
  const api: UpstreamApi = {
    providerId,
    secrets: [config.apiKey, config.adToken].filter((s): s is string => !!s),
    timeoutMs: config.timeoutMs,
    chatRoute: (model) => {
      const deployment = deploymentFor(config, model);
      // The deployment is in the path and, as the SDK itself sends it, in the body too.
      return { path: `${prefix}/deployments/${encodeURIComponent(deployment)}/chat/completions?${version}`, model: deployment };
    },
    http: chatHttp,
    withHeaders: (call) => call(headers),
    // AzureOpenAI turns POST /embeddings with this model into /deployments/{deployment}/embeddings.
    embeddingModel: (model) => deploymentFor(config, model),
    withClient: (call) => call(client),
    // GET {endpoint}/openai/models?api-version=…: cheap, and fails on a bad key or endpoint.
    health: () => probeModels(client, api),
    close: () => {
      chatHttp.close();
      http.close();
    },
  };
  return api;
}
