/**
 * Where and how to call OpenAI (or any OpenAI-compatible server): base URL, headers, one SDK
 * client per API key, key rotation, the health probe. What to send lives in chat-complete.ts.
 */
import { APIConnectionTimeoutError, OpenAI } from 'openai';
import { configuredKeys, type OpenAIProviderConfig } from './options.js';
import type { HealthReport } from '../../src/core/provider.js';
import { classifyOpenAIError } from './openai-error.js';
import { KeyPool, type KeyPoolOptions } from './key-pool.js';
import { createUpstreamPool, READ_WHOLE_INIT, type FetchLike, type UpstreamPool } from '../shared/node-fetch.js';
import { startDeadline, type Deadline } from '../../src/core/deadline.js';
import { createUpstreamHttp, type UpstreamHttp } from '../shared/upstream-http.js';

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';
/** Health probes must be cheap: never wait on them as long as on a real call. */
const HEALTH_TIMEOUT_CAP_MS = 5_000;

/** The chat endpoint for one model: the origin-relative path (query included) and the body's `model`. */
export interface ChatRoute {
  path: string;
  model: string;
}

/** One key's request headers for the chat hot path (auth, organization, configured extras), lower-case names. */
export type CallHeaders = Readonly<Record<string, string>>;

/** What chat-complete.ts needs to know about an upstream; OpenAI and Azure differ only here. */
export interface UpstreamApi {
  readonly providerId: string;
  /** Configured secrets, scrubbed from every error message. */
  readonly secrets: readonly string[];
  /** Per-call timeout: the whole call when not streamed, until the first event when streamed. */
  readonly timeoutMs: number;
  chatRoute(model: string): ChatRoute;
  /** The chat hot path's connection pool (undici, no SDK). */
  readonly http: UpstreamHttp;
  /** Runs one logical chat call with one key's headers; pooled keys rotate on 401/429 like `withClient`. */
  withHeaders<T>(call: (headers: CallHeaders) => Promise<T>): Promise<T>;
  /** The body's `model` of an embeddings call for `model` (Azure: its deployment, which the SDK also puts in the path). */
  embeddingModel(model: string): string;
  /** Runs one logical call with a client; `call` must throw ProviderErrors. Pooled keys rotate on 401/429. */
  withClient<T>(call: (client: OpenAI) => Promise<T>): Promise<T>;
  /** Cheap liveness probe. */
  health(): Promise<HealthReport>;
  /** Releases the provider's connection pool (in-flight calls fail, sockets close). */
  close(): void;
}

/** The fields of an HTTP upstream's options that shape its connection pool and read limits. */
export type UpstreamHttpConfig = Pick<OpenAIProviderConfig, 'pool' | 'maxResponseBytes' | 'maxEventBytes'>;

/** The SDK's per-call `fetchOptions` type. */
type SdkFetchOptions = NonNullable<NonNullable<Parameters<OpenAI['models']['list']>[0]>['fetchOptions']>;
/** Per-call `fetchOptions` of a call whose answer is read whole: the pool caps the whole body. */
export const READ_WHOLE: SdkFetchOptions = READ_WHOLE_INIT as SdkFetchOptions;

/** One pool per provider, shared by all its clients (keys): its own sockets, queue and limits. */
export function createProviderPool(config: UpstreamHttpConfig): UpstreamPool {
  return createUpstreamPool({ ...config.pool, maxResponseBytes: config.maxResponseBytes, maxEventBytes: config.maxEventBytes });
}

/** The chat hot path's pool to the origin of `baseURL`, with the provider's pool limits. */
export function createChatHttp(baseURL: string, config: UpstreamHttpConfig): UpstreamHttp {
  return createUpstreamHttp(baseURL, { maxSockets: config.pool.maxSockets, idleSocketMs: config.pool.idleSocketMs, maxResponseBytes: config.maxResponseBytes, maxEventBytes: config.maxEventBytes });
}

/** The path of `baseURL` without a trailing slash ("" for an origin), under which the API's paths go. */
export function basePath(baseURL: string): string {
  return new URL(baseURL).pathname.replace(/\/+$/, '');
}

/** `Basic …` for the user and password of a URL, when it has them. */
export function urlCredentials(baseURL: string): { header: string; password: string } | undefined {
  const url = new URL(baseURL);
  if (!url.username && !url.password) return undefined;
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return { header: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`, password };
}

/**
 * Request headers of a chat call, as the SDK would send them: JSON, the auth of one key, then
 * the operator's configured headers (which may override any of these). Names lower-case.
 */
export function callHeaders(auth: Record<string, string>, extra: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'llm-router' };
  for (const [k, v] of Object.entries(auth)) out[k.toLowerCase()] = v;
  for (const [k, v] of Object.entries(extra ?? {})) out[k.toLowerCase()] = v;
  return out;
}

/**
 * A signal that fires on the caller's abort or after `ms`. The SDK's own timeout stops at the
 * response headers; this one also covers queueing for a socket and reading a body, and can be
 * cleared once a stream is under way. It aborts without a reason (`plain`) so that fetch and
 * the SDK see a plain AbortError whatever reason the caller gave; `timedOut()` tells the two apart.
 */
export function callDeadline(outer: AbortSignal | undefined, ms: number): Deadline {
  return startDeadline({ parents: [outer], ms, plain: true });
}

/** SDK options shared by every client we build: the router, not the SDK, retries and logs. */
export function baseClientOptions(timeoutMs: number, headers: Record<string, string> | undefined, fetch: FetchLike) {
  return {
    maxRetries: 0,
    timeout: timeoutMs,
    fetch,
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
export function buildOpenAIClient(config: OpenAIProviderConfig, apiKey: string | undefined, fetch: FetchLike): OpenAI {
  const base = baseClientOptions(config.timeoutMs, config.headers, fetch);
  return new OpenAI({
    ...base,
    apiKey: apiKey ?? 'no-key',
    baseURL: config.baseURL ?? DEFAULT_OPENAI_BASE_URL,
    organization: config.organization ?? null,
    project: config.project ?? null,
    defaultHeaders: apiKey === undefined ? { ...base.defaultHeaders, Authorization: null } : base.defaultHeaders,
  });
}


/** The error to classify when a deadline fired: the SDK only saw an abort. */
export function deadlineError(ms: number): APIConnectionTimeoutError {
  return new APIConnectionTimeoutError({ message: `no answer within ${ms} ms` });
}

/** GET /models (first page) under a short deadline; never throws. */
export async function probeModels(client: OpenAI, api: Pick<UpstreamApi, 'providerId' | 'secrets' | 'timeoutMs'>): Promise<HealthReport> {
  const ms = Math.min(api.timeoutMs, HEALTH_TIMEOUT_CAP_MS);
  const deadline = callDeadline(undefined, ms);
  const started = performance.now();
  try {
    const page = await client.models.list({ signal: deadline.signal, timeout: ms, fetchOptions: READ_WHOLE });
    return { ok: true, latencyMs: Math.round(performance.now() - started), detail: `${page.data.length} models listed` };
  } catch (err) {
    const cause = deadline.timedOut() ? deadlineError(ms) : err;
    const e = classifyOpenAIError(cause, api.providerId, { secrets: api.secrets });
    // Probes are read by operators (GET /admin/targets): the detail, scrubbed like every message.
    return { ok: false, latencyMs: Math.round(performance.now() - started), detail: e.detail ?? e.message, kind: e.kind, ...(e.status ? { status: e.status } : {}) };
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
  const http = createProviderPool(config);
  const baseURL = config.baseURL ?? DEFAULT_OPENAI_BASE_URL;
  const chatHttp = createChatHttp(baseURL, config);
  const chatPath = `${basePath(baseURL)}/chat/completions`;
  const org = { ...(config.organization ? { 'openai-organization': config.organization } : {}), ...(config.project ? { 'openai-project': config.project } : {}) };
  // Credentials in the base URL (a keyless server behind Basic auth) are sent as node:http sends them: unless a key's bearer is.
  const basic = urlCredentials(baseURL);
  const entry = (key: string | undefined) => ({
    client: buildOpenAIClient(config, key, http.fetch),
    headers: callHeaders({ ...(basic ? { authorization: basic.header } : {}), ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}), ...org }, config.headers),
  });
  const entries = keys.length ? keys.map((k) => entry(k)) : [entry(undefined)];
  const pool = new KeyPool<{ client: OpenAI; headers: CallHeaders }>({
    providerId,
    keys: entries,
    cooldownMs: config.keyCooldownMs,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.onKeyRested ? { onRest: opts.onKeyRested } : {}),
  });
  const api: UpstreamApi = {
    providerId,
    secrets: basic ? [...keys, basic.password] : keys,
    timeoutMs: config.timeoutMs,
    chatRoute: (model) => ({ path: chatPath, model }),
    http: chatHttp,
    withHeaders: (call) => pool.run((lease) => call(lease.key.headers)),
    embeddingModel: (model) => model,
    withClient: (call) => pool.run((lease) => call(lease.key.client)),
    health: async () => {
      const lease = pool.peek();
      if (!lease) {
        const e = pool.allRestingError();
        return { ok: false, detail: e.detail ?? e.message, kind: 'rate_limit' };
      }
      return probeModels(lease.key.client, api);
    },
    close: () => {
      chatHttp.close();
      http.close();
    },
  };
  return api;
}
