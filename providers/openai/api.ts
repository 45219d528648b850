/**
 * Where and how to call OpenAI (or any OpenAI-compatible server): base URL, headers, one SDK
 * client per API key, key rotation, the health probe. What to send lives in chat-complete.ts.
 */
import { APIConnectionTimeoutError, OpenAI } from 'openai';
import type { OpenAIProviderConfig } from '../../src/config/schema.js';
import type { HealthReport } from '../../src/core/provider.js';
import { classifyOpenAIError } from './openai-error.js';
import { KeyPool, type KeyPoolOptions } from './key-pool.js';
import { nodeFetch } from '../shared/node-fetch.js';

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';
/** Health probes must be cheap: never wait on them as long as on a real call. */
const HEALTH_TIMEOUT_CAP_MS = 5_000;

/** The chat endpoint for one model: a path relative to the client's base URL and the body's `model`. */
export interface ChatRoute {
  path: string;
  model: string;
}

/** What chat-complete.ts needs to know about an upstream; OpenAI and Azure differ only here. */
export interface UpstreamApi {
  readonly providerId: string;
  /** Configured secrets, scrubbed from every error message. */
  readonly secrets: readonly string[];
  /** Per-call timeout: the whole call when not streamed, until the first event when streamed. */
  readonly timeoutMs: number;
  chatRoute(model: string): ChatRoute;
  /** Runs one logical call with a client; `call` must throw ProviderErrors. Pooled keys rotate on 401/429. */
  withClient<T>(call: (client: OpenAI) => Promise<T>): Promise<T>;
  /** Cheap liveness probe. */
  health(): Promise<HealthReport>;
}

/** SDK options shared by every client we build: the router, not the SDK, retries and logs. */
export function baseClientOptions(timeoutMs: number, headers: Record<string, string> | undefined) {
  return {
    maxRetries: 0,
    timeout: timeoutMs,
    fetch: nodeFetch,
    // SDK debug logs can carry message text; failures reach the router classified instead.
    logLevel: 'off' as const,
    defaultHeaders: { ...headers },
    // Never pick up OPENAI_* environment variables meant for something else on the host.
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
  };
}

/** One client for one key (undefined: a keyless local server, so no Authorization header at all). */
export function buildOpenAIClient(config: OpenAIProviderConfig, apiKey: string | undefined): OpenAI {
  const base = baseClientOptions(config.timeoutMs, config.headers);
  return new OpenAI({
    ...base,
    apiKey: apiKey ?? 'no-key',
    baseURL: config.baseURL ?? DEFAULT_OPENAI_BASE_URL,
    organization: config.organization ?? null,
    project: config.project ?? null,
    defaultHeaders: apiKey === undefined ? { ...base.defaultHeaders, Authorization: null } : base.defaultHeaders,
  });
}

/** The configured keys, `apiKey` first, without blanks or repeats. */
export function configuredKeys(config: OpenAIProviderConfig): string[] {
  const keys = [...(config.apiKey ? [config.apiKey] : []), ...config.apiKeys].filter((k) => k.trim() !== '');
  return [...new Set(keys)];
}

export interface Deadline {
  signal: AbortSignal;
  timedOut(): boolean;
  /** Stops the timer; the caller's abort still reaches the signal (a stream under way). */
  clear(): void;
  /** Stops the timer and unlinks the caller's signal (the call is over). */
  dispose(): void;
}

/**
 * A signal that fires on the caller's abort or after `ms`. The SDK's own timeout stops at the
 * response headers; this one also covers reading a body, and can be cleared once a stream
 * is under way (unlike AbortSignal.timeout). It aborts without a reason so that fetch and the
 * SDK see a plain AbortError whatever reason the caller gave; `timedOut()` tells the two apart.
 */
export function startDeadline(outer: AbortSignal | undefined, ms: number): Deadline {
  const ctrl = new AbortController();
  let timedOut = false;
  const onAbort = () => ctrl.abort();
  if (outer?.aborted) ctrl.abort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    ctrl.abort();
  }, ms);
  timer.unref?.();
  return {
    signal: ctrl.signal,
    timedOut: () => timedOut,
    clear: () => clearTimeout(timer),
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

/** The error to classify when a deadline fired: the SDK only saw an abort. */
export function deadlineError(ms: number): APIConnectionTimeoutError {
  return new APIConnectionTimeoutError({ message: `no answer within ${ms} ms` });
}

/** GET /models (first page) under a short deadline; never throws. */
export async function probeModels(client: OpenAI, api: Pick<UpstreamApi, 'providerId' | 'secrets' | 'timeoutMs'>): Promise<HealthReport> {
  const ms = Math.min(api.timeoutMs, HEALTH_TIMEOUT_CAP_MS);
  const deadline = startDeadline(undefined, ms);
  const started = performance.now();
  try {
    const page = await client.models.list({ signal: deadline.signal, timeout: ms });
    return { ok: true, latencyMs: Math.round(performance.now() - started), detail: `${page.data.length} models listed` };
  } catch (err) {
    const cause = deadline.timedOut() ? deadlineError(ms) : err;
    const e = classifyOpenAIError(cause, api.providerId, { secrets: api.secrets });
    return { ok: false, latencyMs: Math.round(performance.now() - started), detail: e.message, kind: e.kind, ...(e.status ? { status: e.status } : {}) };
  } finally {
    deadline.dispose();
  }
}

export interface OpenAIApiOptions {
  /** Clock for key cooldowns. */
  now?: () => number;
  onKeyRested?: KeyPoolOptions<OpenAI>['onRest'];
}

/** The OpenAI upstream: `/chat/completions` under the base URL, Bearer auth, keys in turn. */
export function createOpenAIApi(providerId: string, config: OpenAIProviderConfig, opts: OpenAIApiOptions = {}): UpstreamApi {
  const keys = configuredKeys(config);
  if (keys.length === 0 && !config.allowNoKey) {
    throw new Error(`provider "${providerId}": no API key configured (set apiKey, apiKeys, or allowNoKey for a local server)`);
  }
  const clients = keys.length ? keys.map((k) => buildOpenAIClient(config, k)) : [buildOpenAIClient(config, undefined)];
  const pool = new KeyPool<OpenAI>({
    providerId,
    keys: clients,
    cooldownMs: config.keyCooldownMs,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.onKeyRested ? { onRest: opts.onKeyRested } : {}),
  });
  const api: UpstreamApi = {
    providerId,
    secrets: keys,
    timeoutMs: config.timeoutMs,
    chatRoute: (model) => ({ path: '/chat/completions', model }),
    withClient: (call) => pool.run((lease) => call(lease.key)),
    health: async () => {
      const lease = pool.peek();
      if (!lease) return { ok: false, detail: pool.allRestingError().message, kind: 'rate_limit' };
      return probeModels(lease.key, api);
    },
  };
  return api;
}
