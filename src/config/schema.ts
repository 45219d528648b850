import { z } from 'zod';

/** Provider options shared by every kind. */
const providerBase = {
  /** Per-call timeout: the whole call for non-streamed answers; for streams, until the first event (after it the route's idleTimeoutMs applies). */
  timeoutMs: z.number().int().positive().default(60_000).describe("Per-call timeout in milliseconds: the whole call when not streamed; until the first event when streamed (then the route's idleTimeoutMs applies)."),
  /** Turn the provider off without deleting it. */
  enabled: z.boolean().default(true).describe('Turn the provider off without deleting it.'),
};

export const openaiProviderSchema = z
  .strictObject({
    kind: z.literal('openai'),
    /** API keys used in turn; a key answering 401/429 is rested. Values usually `${ENV}` references. */
    apiKeys: z.array(z.string()).default([]).describe('API keys used in turn; a key answering 401/429 is rested for keyCooldownMs.'),
    /** A single API key (shorthand for apiKeys: [key]). */
    apiKey: z.string().optional().describe('A single API key (shorthand for apiKeys).'),
    /** Base URL: any OpenAI-compatible server (vLLM, Ollama, LM Studio). */
    baseURL: z.string().url().optional().describe('Base URL of any OpenAI-compatible server; default https://api.openai.com/v1.'),
    organization: z.string().optional().describe('OpenAI-Organization header.'),
    project: z.string().optional().describe('OpenAI-Project header.'),
    /** How long a key that answered 401/429 is set aside. */
    keyCooldownMs: z.number().int().nonnegative().default(60_000).describe('How long a key that answered 401/429 is set aside.'),
    /** Extra headers sent on every call. */
    headers: z.record(z.string(), z.string()).optional().describe('Extra headers sent on every upstream call.'),
    /** Allow calls without an API key (local OpenAI-compatible servers). */
    allowNoKey: z.boolean().default(false).describe('Allow calls without an API key (local OpenAI-compatible servers).'),
    /** Context window per model, used to skip targets a request cannot fit. */
    contextLength: z.record(z.string(), z.number().int().positive()).optional().describe('Context window in tokens per model name.'),
    ...providerBase,
  })
  .describe('OpenAI or any OpenAI-compatible server.');

export const azureProviderSchema = z
  .strictObject({
    kind: z.literal('azure-openai'),
    /** Resource endpoint, e.g. https://my-resource.openai.azure.com */
    endpoint: z.string().url().describe('Resource endpoint, e.g. https://my-resource.openai.azure.com'),
    apiKey: z.string().optional().describe('api-key for the resource.'),
    /** An Entra ID bearer token instead of an api-key. */
    adToken: z.string().optional().describe('Entra ID bearer token used instead of apiKey.'),
    apiVersion: z.string().default('2024-10-21').describe('Azure OpenAI api-version query parameter.'),
    /** Model name → deployment name. A model not listed uses its own name as the deployment. */
    deployments: z.record(z.string(), z.string()).default({}).describe('Model name to deployment name.'),
    headers: z.record(z.string(), z.string()).optional().describe('Extra headers sent on every upstream call.'),
    contextLength: z.record(z.string(), z.number().int().positive()).optional().describe('Context window in tokens per model name.'),
    ...providerBase,
  })
  .describe('Azure OpenAI.');

export const llamaProviderSchema = z
  .strictObject({
    kind: z.literal('llama-cpp'),
    /** Default registry id served when a target names no model. */
    model: z.string().optional().describe('Default model id from models/registry.yaml.'),
    /** Path of the registry file, relative to this config file; default: the router's own models/registry.yaml. */
    registry: z.string().optional().describe("Path of the local model registry, relative to this config file; default: the router's models/registry.yaml."),
    /** Parallel sequences in the one context (overrides the registry). */
    parallel: z.number().int().min(1).max(64).optional().describe('Parallel sequences served together.'),
    /** Requests waiting for a sequence before new ones fail with capacity. */
    queueLimit: z.number().int().nonnegative().default(16).describe('Requests that may wait for a sequence; beyond it requests fail with kind capacity.'),
    /** CPU threads (overrides the registry). Keep 1 on small machines. */
    threads: z.number().int().min(1).optional().describe('CPU threads for inference.'),
    /** Load the model when the router starts instead of on first use. */
    loadAtStart: z.boolean().default(false).describe('Load the model at start instead of on first use.'),
    /** Prompt adaptation for a small local model. */
    systemPrompt: z.string().optional().describe('Replaces the system message sent to the local model.'),
    systemPromptPrefix: z.string().optional().describe('Prepended to the system message sent to the local model.'),
    maxTokensCap: z.number().int().positive().optional().describe('Upper bound on max_tokens for the local model.'),
    ...providerBase,
  })
  .describe('A GGUF model run in process by node-llama-cpp.');

export const providerSchema = z.discriminatedUnion('kind', [openaiProviderSchema, azureProviderSchema, llamaProviderSchema]);

export const targetSchema = z.strictObject({
  /** Provider instance id (a key of `providers`). */
  provider: z.string().min(1).describe('Provider instance id (a key of providers).'),
  /** Model as the provider knows it. */
  model: z.string().min(1).describe('Model name as the provider knows it.'),
  /** Share of traffic for the weighted strategy. */
  weight: z.number().nonnegative().default(1).describe('Share of traffic under the weighted strategy.'),
});

export const retrySchema = z.strictObject({
  /** Tries per target, the first included. */
  attempts: z.number().int().min(1).max(10).default(1).describe('Tries per target, the first included.'),
  baseDelayMs: z.number().int().nonnegative().default(200).describe('Base delay of exponential backoff with full jitter.'),
  maxDelayMs: z.number().int().nonnegative().default(5_000).describe('Largest delay between tries.'),
});

export const breakerSchema = z.strictObject({
  errorPercent: z.number().min(1).max(100).default(50).describe('Error percentage in the window that opens the breaker.'),
  minRequests: z.number().int().min(1).default(5).describe('Calls in the window before the breaker may open.'),
  windowMs: z.number().int().positive().default(30_000).describe('Rolling window over which errors are counted.'),
  openMs: z.number().int().positive().default(10_000).describe('Least time a breaker stays open before probes may close it.'),
});

export const healthCheckSchema = z.strictObject({
  intervalMs: z.number().int().positive().default(5_000).describe('Interval of active probes while a target is open.'),
  timeoutMs: z.number().int().positive().default(5_000).describe('Timeout of one probe.'),
});

export const shadowSchema = z.strictObject({
  sampleRate: z.number().min(0).max(1).default(0.25).describe('Share of live requests mirrored to a target on probation.'),
  promoteAfter: z.number().int().min(1).default(20).describe('Good shadow calls before a target is promoted back.'),
  maxConcurrent: z.number().int().min(1).default(4).describe('Shadow calls in flight at once, per target.'),
  timeoutMs: z.number().int().positive().default(30_000).describe('Timeout of one shadow call.'),
});

export const routeSchema = z.strictObject({
  /** `ordered`: fallback chain; `weighted`: spread over healthy targets by weight. */
  strategy: z.enum(['ordered', 'weighted']).default('ordered').describe('ordered: fallback chain; weighted: spread over healthy targets by weight.'),
  targets: z.array(targetSchema).min(1).describe('Targets tried in order (or by weight).'),
  retry: retrySchema.prefault({}).describe('Retries on one target before moving on.'),
  breaker: breakerSchema.prefault({}).describe('Circuit breaker thresholds for this route’s targets.'),
  healthCheck: healthCheckSchema.prefault({}).describe('Active health probes of open targets.'),
  shadow: shadowSchema.prefault({}).describe('Shadow traffic to targets on probation.'),
  /** Whole-request deadline including retries and fallbacks. */
  timeoutMs: z.number().int().positive().default(120_000).describe('Whole-request deadline including retries and fallbacks.'),
  /** Streams: longest wait for the first token before falling back. */
  firstTokenTimeoutMs: z.number().int().positive().default(30_000).describe('Longest wait for a stream’s first token before falling back.'),
  /** Streams: longest silence between chunks once the app has bytes. */
  idleTimeoutMs: z.number().int().positive().default(30_000).describe('Longest silence between stream chunks once the app has received bytes.'),
  /** Shown in GET /v1/models. */
  description: z.string().optional().describe('Shown to operators; not sent to apps.'),
});

export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        host: z.string().default('127.0.0.1').describe('Listen address.'),
        port: z.number().int().min(0).max(65535).default(8080).describe('Listen port.'),
        /** Largest accepted request body, e.g. "1mb". */
        bodyLimit: z.string().regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, 'a size such as "1mb" or "512kb"').default('1mb').describe('Largest accepted request body, e.g. "1mb".'),
        /** Trust X-Forwarded-For from a load balancer. */
        trustProxy: z.boolean().default(false).describe('Trust X-Forwarded-* from a load balancer.'),
      })
      .prefault({}),
    auth: z
      .strictObject({
        /** Client keys; with none the router only listens on loopback. */
        keys: z.array(z.string()).default([]).describe('Client API keys (Bearer); none means loopback only.'),
        /** Keys for /admin endpoints. */
        adminKeys: z.array(z.string()).default([]).describe('Keys for the /admin endpoints.'),
      })
      .prefault({}),
    logging: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** Log message text (off by default). */
        audit: z.boolean().default(false).describe('Log request and response text (off by default).'),
      })
      .prefault({}),
    providers: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, ".", "_" or "-"'), providerSchema).describe('Provider instances by id.'),
    routes: z.record(z.string().min(1), routeSchema).describe('Routes by the model name apps send.'),
  });

export type RouterConfig = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type OpenAIProviderConfig = z.infer<typeof openaiProviderSchema>;
export type AzureProviderConfig = z.infer<typeof azureProviderSchema>;
export type LlamaProviderConfig = z.infer<typeof llamaProviderSchema>;
export type RouteConfig = z.infer<typeof routeSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;

/**
 * Cross-field checks zod cannot express per field. Run on the raw tree so they are reported
 * together with field errors (zod skips refinements once a field fails).
 */
export function crossCheckConfig(raw: unknown): Array<{ path: Array<string | number>; message: string }> {
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  if (!raw || typeof raw !== 'object') return out;
  const { providers, routes } = raw as { providers?: unknown; routes?: unknown };
  const known = providers && typeof providers === 'object' ? Object.keys(providers) : [];
  if (!routes || typeof routes !== 'object') return out;
  for (const [name, route] of Object.entries(routes)) {
    const targets = (route as { targets?: unknown } | null)?.targets;
    if (!Array.isArray(targets)) continue;
    targets.forEach((t: unknown, i) => {
      const provider = (t as { provider?: unknown } | null)?.provider;
      if (typeof provider === 'string' && !known.includes(provider)) {
        out.push({
          path: ['routes', name, 'targets', i, 'provider'],
          message: `unknown provider "${provider}"; expected one of: ${known.join(', ') || '(none defined)'}`,
        });
      }
    });
  }
  return out;
}
