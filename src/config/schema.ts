import { z } from 'zod';

import { providerOptionsSchema } from '../../providers/options.js';
import { pricingConfigSchema } from '../accounting/prices.js';
import { budgetSchema, jwtSchema, keySecretSchema, limitsSchema, virtualKeysSchema } from '../identity/identity-schema.js';
import { stateSchema } from '../state/state-schema.js';

export { byteSize, parseByteSize } from '../../providers/shared/options.js';
import { knownEmbeddingDimensions } from '../../providers/openai/embedding-models.js';
import { knownLocalEmbeddingSize } from '../../providers/llama-cpp/embedding-size.js';
import { auditSchema, crossCheckSafety, safetySchema } from './safety-schema.js';
import { cacheSchema, routeCacheSchema } from '../cache/cache-schema.js';
import { sessionsSchema } from '../sessions/session-schema.js';
import { routeResumableSchema, streamsSchema } from '../streams/streams-schema.js';
import { jobsSchema } from '../jobs/jobs-schema.js';
import { tracingSchema } from '../observability/tracing.js';
import { sessionSummarySchema } from '../sessions/summarize.js';
export type { OpenAIProviderConfig } from '../../providers/openai/options.js';
export type { AzureProviderConfig } from '../../providers/azure-openai/options.js';
export type { LlamaProviderConfig } from '../../providers/llama-cpp/options.js';

/** Every provider kind's options, each owned by its folder under providers/. */
export const providerSchema = providerOptionsSchema;

export const targetSchema = z.strictObject({
  /** Provider instance id (a key of `providers`). */
  provider: z.string().min(1).describe('Provider instance id (a key of providers).'),
  /** Model as the provider knows it. */
  model: z.string().min(1).describe('Model name as the provider knows it.'),
  /** Share of traffic for the weighted strategy. */
  weight: z.number().nonnegative().default(1).describe('Share of traffic under the weighted strategy.'),
  trust: z
    .enum(['local', 'trusted', 'untrusted'])
    .optional()
    .describe('How far prompts may be trusted to this target, for privacy routing. Default: local for the llama-cpp provider, untrusted for cloud providers.'),
  /** Cap on live requests in flight to this provider/model, shared by every route that lists it. */
  maxConcurrent: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('Most live requests in flight at once to this provider and model (a stream holds its slot until it ends), counted over every route that lists the same provider/model; when routes differ, the smallest value applies. Absent: no cap.'),
  /** Requests that may wait for a slot; beyond it a request moves on to the next target. */
  maxQueue: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe('Requests that may wait for a slot when maxConcurrent are in flight (needs maxConcurrent; the smallest over the routes applies). Default 0: none wait, a request that finds no slot tries the next target, and when no target can take it the app gets 429 with Retry-After.'),
  /** Longest wait in the queue before moving on to the next target. */
  maxQueueWaitMs: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('Longest time a request waits in the queue for a slot before it tries the next target (the smallest over the routes applies; the route deadline still bounds it). Default 1000.'),
  /** Embeddings routes: the size of this target's vectors when a request asks for no `dimensions`. */
  dimensions: z
    .number()
    .int()
    .min(1)
    .max(65_536)
    .optional()
    .describe('Embeddings routes only: the size of this target\'s vectors when a request names no dimensions. Needed when the router does not know the model (known: text-embedding-3-small 1536, text-embedding-3-large 3072, text-embedding-ada-002 1536, the built-in local tiny 256) and the route has more than one target; answers of another size are refused.'),
}).refine((t) => t.maxConcurrent !== undefined || (t.maxQueue === undefined && t.maxQueueWaitMs === undefined), {
  path: ['maxQueue'],
  message: 'maxQueue and maxQueueWaitMs only apply with maxConcurrent (set it on this target)',
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

export const capsSchema = z.strictObject({
  maxTokens: z.number().int().min(1).max(10_000_000).default(32_768).describe('Largest max_tokens / max_completion_tokens a request may ask for.'),
  maxN: z.number().int().min(1).max(128).default(8).describe('Largest n (choices) a request may ask for.'),
  onExceed: z.enum(['reject', 'clamp']).default('reject').describe('reject: 400 naming the field; clamp: lower the value to the cap and say so in x-router-clamped.'),
});

export const truncationSchema = z.strictObject({
  /** `drop_oldest`: drop the oldest turns, keeping system/developer messages and the last user turn. */
  mode: z.enum(['drop_oldest']).describe('drop_oldest: when the prompt fits no target\'s context, drop the oldest turns (never system/developer messages, the last user turn or what follows it; a tool call with its results) until it fits the largest; said in x-router-truncated.'),
});

/** Rate limits a route sets: per caller on this route, and a ceiling over every caller. */
export const routeLimitsSchema = z.strictObject({
  perKey: limitsSchema.optional().describe('Limits of each caller (virtual key, JWT subject, legacy key) on this route, on top of the caller\'s own limits.'),
  global: limitsSchema.optional().describe('Limits of the route as a whole, over every caller (shared across instances with state.backend redis).'),
});

/** Spend budgets per team, and who to tell when one nears its end. */
export const budgetsSchema = z.strictObject({
  teams: z
    .record(z.string().min(1).max(200), budgetSchema)
    .default({})
    .describe('Budgets by team name (the team of a virtual key, or of a JWT\'s team claim); on top of each key\'s own budget.'),
  webhookUrl: z
    .url()
    .refine((u) => /^https?:\/\//i.test(u), 'http:// or https://')
    .optional()
    .describe('POSTed a JSON notice when a budget crosses its softRatio (once per owner and period; fire-and-forget, 5 s timeout, never delays a request).'),
});

export const routeSchema = z.strictObject({
  /** What the route serves: chat completions (default) or embeddings. */
  kind: z
    .enum(['chat', 'embeddings'])
    .optional()
    .describe('chat (default): POST /v1/chat/completions; embeddings: POST /v1/embeddings. A route serves one of the two, and its targets must serve it too.'),
  /** Embeddings routes: allow targets whose vectors differ in size. */
  allowMixedDimensions: z
    .boolean()
    .optional()
    .describe('Embeddings routes: allow targets whose vectors differ in size (or whose size is unknown). Off by default: a fallback to another size would mix vector spaces in the app\'s index; an app that sets dimensions on every request may turn it on.'),
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
  /** A started stream's whole duration, after which it ends with an error event. */
  maxStreamMs: z.number().int().positive().default(600_000).describe('Longest a stream may run once started; past it the app gets an error event (stream_too_long) and [DONE], and the upstream call is closed.'),
  /** Caps on what one request may ask of the operator's upstream accounts. */
  caps: capsSchema.prefault({}).describe('Per-request caps on n and max_tokens (cost amplification).'),
  /** max_tokens for requests that set none (at most caps.maxTokens). */
  defaultMaxTokens: z.number().int().min(1).max(10_000_000).optional().describe('max_tokens sent upstream (as max_tokens) when the app sets neither max_tokens nor max_completion_tokens; said in x-router-default-max-tokens. At most caps.maxTokens. Absent: the upstream\'s own default.'),
  /** Rate limits of this route. */
  limits: routeLimitsSchema.optional().describe('Rate limits on this route: perKey (each caller) and global (all callers together).'),
  /** What to do with a prompt too long for every target; absent: refuse (context_length_exceeded). */
  truncation: truncationSchema.optional().describe('Truncation of prompts too long for the route\'s targets; absent: such a request gets 400 context_length_exceeded.'),
  /** Shown in GET /v1/models. */
  resumable: routeResumableSchema,
  sessionSummary: sessionSummarySchema.optional().describe('Sessions on this route: summarise older turns with another route once the history passes triggerTokens, instead of only dropping them when it no longer fits.'),
  cache: routeCacheSchema.optional().describe('Response cache of this route (exact match, scoped per key by default); absent: answers are never cached.'),
  safety: z.string().regex(/^[A-Za-z0-9_.-]+$/).optional().describe('Safety policy (a key of safety.policies) of this route; a key\'s or team\'s own policy wins.'),
  description: z.string().optional().describe('Shown to operators; not sent to apps.'),
}).refine((r) => r.defaultMaxTokens === undefined || r.defaultMaxTokens <= r.caps.maxTokens, {
  path: ['defaultMaxTokens'],
  message: 'defaultMaxTokens must not exceed caps.maxTokens (every request without max_tokens would exceed the cap)',
}).refine((r) => r.kind === 'embeddings' || (r.allowMixedDimensions === undefined && r.targets.every((t) => t.dimensions === undefined)), {
  path: ['kind'],
  message: 'dimensions and allowMixedDimensions only apply to embeddings routes (set kind: embeddings)',
});

const listenSchema = z.strictObject({
  host: z.string().default('127.0.0.1').describe('Listen address of the operator listener (loopback: /admin needs no key there).'),
  port: z.number().int().min(0).max(65535).describe('Listen port of the operator listener.'),
});

export const tlsSchema = z.strictObject({
  /** PEM certificate chain file, relative to this config file. */
  cert: z.string().min(1).describe('PEM certificate (chain) file; reloaded when it changes.'),
  /** PEM private key file; must not be readable by group or others. */
  key: z.string().min(1).describe('PEM private key file (mode 600 or stricter); reloaded when it changes.'),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Oldest TLS version accepted.'),
});

/** An origin as browsers send it: scheme://host[:port], no path, no trailing slash. */
const ORIGIN = /^(\*|[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+)$/i;

export const corsSchema = z.strictObject({
  /** Origins allowed to call the router from a browser, e.g. https://app.example.com; "*" for any (never with credentials). */
  origins: z.array(z.string().regex(ORIGIN, 'an origin such as "https://app.example.com" (scheme://host[:port], no path or trailing slash), or "*"')).min(1).describe('Allowed origins (exact, e.g. https://app.example.com), or ["*"] for any origin (not with credentials).'),
  methods: z.array(z.string().regex(/^[A-Z]+$/)).default(['GET', 'POST', 'DELETE', 'OPTIONS']).describe('Allowed methods.'),
  headers: z.array(z.string().min(1)).default(['authorization', 'content-type', 'api-key', 'x-request-id', 'x-session-id', 'openai-organization', 'openai-project', 'x-stainless-*']).describe('Allowed request headers (a trailing * matches a prefix).'),
  exposeHeaders: z
    .array(z.string().min(1))
    .default([
      'x-request-id', 'x-router-provider', 'x-router-model', 'x-router-attempts', 'x-router-fallback', 'x-router-overhead-ms', 'x-router-cost-usd',
      'retry-after', 'retry-after-ms',
      'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests',
      'x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens',
    ])
    .describe('Response headers scripts may read.'),
  credentials: z.boolean().default(false).describe('Allow cookies/credentials (Access-Control-Allow-Credentials); not allowed with origin "*".'),
  maxAgeS: z.number().int().nonnegative().default(600).describe('How long browsers may cache a preflight answer.'),
}).refine((c) => !(c.credentials && c.origins.includes('*')), {
  path: ['credentials'],
  message: 'credentials: true cannot be combined with origins ["*"] (browsers refuse it, and it would let any site call the router with the user\'s credentials): list the exact origins instead',
});

export const serverLimitsSchema = z.strictObject({
  headersTimeoutMs: z.number().int().positive().default(10_000).describe('Longest time to receive a request\'s headers.'),
  requestTimeoutMs: z.number().int().positive().default(30_000).describe('Longest time to receive a whole request (headers and body); the answer may take longer.'),
  keepAliveTimeoutMs: z.number().int().positive().default(65_000).describe('Idle time before a keep-alive connection is closed.'),
  maxConnections: z.number().int().positive().default(4_096).describe('Open client connections at once; more are refused.'),
  maxDepth: z.number().int().min(4).max(1_000).default(64).describe('Deepest nesting of arrays/objects in a request body.'),
}).refine((l) => l.headersTimeoutMs <= l.requestTimeoutMs, {
  path: ['headersTimeoutMs'],
  message: 'headersTimeoutMs must not exceed requestTimeoutMs (the headers are part of the request)',
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
        /** A separate operator listener for /metrics, /readyz details and /admin (the usual Prometheus setup). */
        adminListen: listenSchema.optional().describe('Separate operator listen address: /metrics, /readyz details and /admin answer there (without keys when it is loopback) and no longer on the main listener.'),
        tls: tlsSchema.optional().describe('Terminate TLS in the router (HTTPS) for deployments without a proxy.'),
        cors: corsSchema.optional().describe('CORS for browser apps calling the router directly; off when absent.'),
        limits: serverLimitsSchema.prefault({}).describe('Connection and request limits at the edge.'),
        /** Graceful shutdown: how long requests in flight may take to finish after SIGTERM. */
        shutdownDelayMs: z
          .number()
          .int()
          .min(0)
          .max(120_000)
          .default(0)
          .describe('On SIGTERM, before the listener closes: how long /readyz says 503 and every answer says Connection: close while new requests are still served, so a load balancer takes the instance out of rotation first (lossless rolling restarts behind nginx or a Service; 0 with a Kubernetes preStop sleep).'),
        drainMs: z.number().int().nonnegative().default(25_000).describe('On SIGTERM: how long requests in flight may finish before remaining streams are ended with an error event.'),
      })
      .refine((s) => !s.adminListen || s.adminListen.port === 0 || s.adminListen.port !== s.port || s.adminListen.host !== s.host, {
        path: ['adminListen', 'port'],
        message: 'the operator listener needs its own port (server.port is the same)',
      })
      .prefault({}),
    auth: z
      .strictObject({
        /** Client keys; with none the router only listens on loopback. */
        keys: z.array(z.string()).default([]).describe('Client API keys (Bearer); none means loopback only.'),
        /** Keys for /admin endpoints. */
        adminKeys: z.array(z.string()).default([]).describe('Keys for the /admin endpoints.'),
        /** HMAC key of stored virtual-key hashes. */
        keySecret: keySecretSchema.optional(),
        /** Virtual keys declared in the config (GitOps). */
        virtualKeys: virtualKeysSchema.default([]),
        /** JWT bearer tokens from an identity provider. */
        jwt: jwtSchema.optional(),
        /** Require a credential on /v1 even when the config declares none (keys only made through /admin/keys). */
        requireKeys: z
          .boolean()
          .default(false)
          .describe('Require a credential on /v1 even when auth.keys, auth.virtualKeys and auth.jwt are all empty (every key is created through /admin/keys). Counts as client auth for listening beyond loopback.'),
      })
      .prefault({}),
    logging: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** Log message text (off by default). */
        audit: z.boolean().default(false).describe('Log request and response text (off by default).'),
      })
      .prefault({}),
    state: stateSchema.prefault({}).describe('Where shared state lives: keys, limits, budgets, the usage ledger (memory + files, or Redis). Changes need a restart.'),
    pricing: pricingConfigSchema.prefault({}).describe('Model prices for cost and budgets: the built-in config/prices.yaml, another file, and per-provider overrides.'),
    budgets: budgetsSchema.prefault({}).describe('Team budgets and the soft-threshold webhook.'),
    safety: safetySchema.prefault({}).describe('Content safety: lexicon filters, PII and secret detectors, privacy routing.'),
    audit: auditSchema.prefault({}).describe('The tamper-evident audit log (off by default).'),
    cache: cacheSchema.prefault({}).describe('Bounds of the response cache (routes turn it on with routes.<name>.cache).'),
    sessions: sessionsSchema.prefault({}).describe('Conversation sessions kept by the router (x-session-id, /v1/sessions).'),
    tracing: tracingSchema.prefault({}).describe('OpenTelemetry traces over OTLP/HTTP (off without otlpEndpoint).'),
    jobs: jobsSchema.prefault({}).describe('Background jobs (x-router-async, /v1/jobs): persisted, run by a pool, survive a restart.'),
    streams: streamsSchema.prefault({}).describe('Resumable streams (x-router-resumable, reconnect with Last-Event-ID): bounds of their buffers.'),
    providers: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, ".", "_" or "-"'), providerSchema).describe('Provider instances by id.'),
    routes: z.record(z.string().min(1), routeSchema).describe('Routes by the model name apps send.'),
  });

export type RouterConfig = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type RouteConfig = z.infer<typeof routeSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type RouteLimitsConfig = z.infer<typeof routeLimitsSchema>;
export type BudgetsConfig = z.infer<typeof budgetsSchema>;

/**
 * Cross-field checks zod cannot express per field. Run on the raw tree so they are reported
 * together with field errors (zod skips refinements once a field fails).
 */
export function crossCheckConfig(raw: unknown): Array<{ path: Array<string | number>; message: string }> {
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  if (!raw || typeof raw !== 'object') return out;
  const { providers, routes, pricing } = raw as { providers?: unknown; routes?: unknown; pricing?: unknown };
  const known = providers && typeof providers === 'object' ? Object.keys(providers) : [];
  // A price override for a provider that does not exist would silently price nothing.
  const overrides = (pricing as { overrides?: unknown } | null | undefined)?.overrides;
  if (overrides && typeof overrides === 'object') {
    for (const id of Object.keys(overrides)) {
      if (!known.includes(id)) out.push({ path: ['pricing', 'overrides', id], message: `unknown provider "${id}"; expected one of: ${known.join(', ') || '(none defined)'}` });
    }
  }
  out.push(...crossCheckSafety(raw));
  if (!routes || typeof routes !== 'object') return out;
  for (const [name, route] of Object.entries(routes)) {
    const summarizer = (route as { sessionSummary?: { route?: unknown } } | null)?.sessionSummary?.route;
    if (typeof summarizer === 'string' && !Object.hasOwn(routes, summarizer)) {
      out.push({ path: ['routes', name, 'sessionSummary', 'route'], message: `unknown route "${summarizer}"; expected one of: ${Object.keys(routes).join(', ')}` });
    }
    const targets = (route as { targets?: unknown } | null)?.targets;
    if (typeof summarizer === 'string' && (routes as Record<string, { kind?: unknown } | null>)[summarizer]?.kind === 'embeddings') {
      out.push({ path: ['routes', name, 'sessionSummary', 'route'], message: `route "${summarizer}" serves embeddings; a summary needs a chat route` });
    }
    if (!Array.isArray(targets)) continue;
    const r = route as { kind?: unknown; allowMixedDimensions?: unknown };
    if (r.kind === 'embeddings' && r.allowMixedDimensions !== true) out.push(...checkDimensions(name, targets, providers));
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

/**
 * The size of a target's vectors when a request names no `dimensions`: its own `dimensions`,
 * else what the router knows of the model (OpenAI's embedding models, the built-in local one).
 */
function targetDimensions(target: unknown, providers: unknown): number | undefined {
  const t = (target ?? {}) as { provider?: unknown; model?: unknown; dimensions?: unknown };
  if (typeof t.dimensions === 'number') return t.dimensions;
  const provider = typeof t.provider === 'string' && providers && typeof providers === 'object' && Object.hasOwn(providers, t.provider) ? ((providers as Record<string, unknown>)[t.provider] as { kind?: unknown; registry?: unknown; model?: unknown } | null) : undefined;
  const model = typeof t.model === 'string' ? t.model : '';
  if (provider?.kind === 'openai' || provider?.kind === 'azure-openai') return knownEmbeddingDimensions(model);
  if (provider?.kind === 'llama-cpp') return knownLocalEmbeddingSize(model, provider);
  return undefined;
}

/**
 * An embeddings route whose targets make vectors of different sizes would hand an app, on a
 * fallback, vectors from another space than those in its index: refused unless the route sets
 * allowMixedDimensions. With more than one target, every size must be known.
 */
function checkDimensions(route: string, targets: unknown[], providers: unknown): Array<{ path: Array<string | number>; message: string }> {
  if (targets.length < 2) return [];
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  const sizes = targets.map((t) => targetDimensions(t, providers));
  const label = (t: unknown) => {
    const { provider, model } = (t ?? {}) as { provider?: unknown; model?: unknown };
    return `${String(provider)}/${String(model)}`;
  };
  sizes.forEach((size, i) => {
    if (size === undefined) {
      out.push({ path: ['routes', route, 'targets', i, 'dimensions'], message: `the size of ${label(targets[i])}'s vectors is not known: set dimensions on the target (or allowMixedDimensions: true on the route)` });
    }
  });
  const known = sizes.filter((s): s is number => s !== undefined);
  if (new Set(known).size > 1) {
    const list = targets.map((t, i) => `${label(t)}: ${sizes[i] ?? 'unknown'}`).join(', ');
    out.push({ path: ['routes', route, 'targets'], message: `targets make vectors of different sizes (${list}); a fallback between them would mix vector spaces. Use targets of one model, or set allowMixedDimensions: true` });
  }
  return out;
}
