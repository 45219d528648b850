/**
 * State apps rely on beyond one request: the response cache (and request coalescing) and
 * conversation sessions. Opened
 * by `start()` once the state backend is open: in memory by default, in Redis (beside the
 * other shared state, under the same key prefix) with `state.backend: redis`.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { createCoalescer, createMemoryCache, createRedisCache, createStreamCoalescer, type ResponseCache } from '../cache/index.js';
import type { RouterConfig } from '../config/schema.js';
import type { ChatChunk } from '../core/chat-response.js';
import type { CacheDeps } from '../edge/request-cache.js';
import type { RoutedResponse } from '../routing/dispatcher.js';
import type { ObservableStateBackend } from '../state/index.js';
import { createMemorySessionStore, createRedisSessionStore, type SessionStore } from '../sessions/session-store.js';
import { createMemoryStreamBuffer, createRedisStreamBuffer, type StreamBuffer } from '../streams/stream-buffer.js';
import { createResumableStreams, type ResumableStreams } from '../streams/resumable-stream.js';
import type { InflightRegistry } from '../edge/inflight.js';
import path from 'node:path';
import { createJobRunner, createJobWebhook, FileJobStore, JobStoreLockedError, newInstanceId, RedisJobStore, type JobExecute, type JobRunner, type JobStore } from '../jobs/index.js';

export interface FeatureRuntimeDeps {
  logger: Logger;
  registry: Registry;
  config: () => RouterConfig;
  state: () => ObservableStateBackend | undefined;
  /** Requests in flight (resume requests join the shutdown drain). */
  inflight?: InflightRegistry;
}

/** Cache counters for /metrics: lookups by result, and what hits saved. */
function createCacheMetrics(registry: Registry) {
  const registers = [registry];
  return {
    lookups: new Counter({ name: 'llm_router_cache_lookups_total', help: 'Response cache lookups by result (hit, stale, miss, bypass, coalesced).', labelNames: ['route', 'result'], registers }),
    tokensSaved: new Counter({ name: 'llm_router_cache_tokens_saved_total', help: 'Tokens the cache and coalescing saved (the usage of the answers they served again).', labelNames: ['route', 'type'], registers }),
    costSaved: new Counter({ name: 'llm_router_cache_cost_saved_usd_total', help: 'USD the cache and coalescing saved, priced by the target that produced the answer (unpriced answers add nothing).', labelNames: ['route'], registers }),
    storeErrors: new Counter({ name: 'llm_router_cache_store_errors_total', help: 'Answers that could not be stored in the cache.', registers }),
  };
}

/** The cache store's own counters (a Redis failure is a miss there), read at each scrape. */
function cacheStoreGauge(registry: Registry, cache: () => ResponseCache | undefined): void {
  new Gauge({
    name: 'llm_router_cache_backend_errors',
    help: 'Cache lookups and stores that failed in the store since start (each served as a miss or skipped).',
    registers: [registry],
    collect() {
      this.set(cache()?.stats().errors ?? 0);
    },
  });
}

export type CacheMetrics = ReturnType<typeof createCacheMetrics>;

export function createFeatureRuntime(deps: FeatureRuntimeDeps) {
  let cache: ResponseCache | undefined;
  let sessions: SessionStore | undefined;
  let buffer: StreamBuffer | undefined;
  let jobStore: JobStore | undefined;
  let jobs: JobRunner | undefined;
  let execute: JobExecute | undefined;
  let resumable: ResumableStreams | undefined;
  let started: Promise<void> | undefined;
  const metrics = createCacheMetrics(deps.registry);
  cacheStoreGauge(deps.registry, () => cache);
  const cacheDeps: CacheDeps = {
    cache: () => cache,
    chatCoalescer: createCoalescer<RoutedResponse>(),
    streamCoalescer: createStreamCoalescer<ChatChunk>(),
    onStoreError: (err) => {
      metrics.storeErrors.inc();
      deps.logger.warn({ err: (err as Error).message }, 'answer could not be stored in the cache');
    },
  };

  return {
    /** Opens the stores on the state backend in force (call after the policy runtime started). */
    start(): Promise<void> {
      started ??= (async () => {
        const state = deps.state();
        const cfg = deps.config().cache;
        const sessionsCfg = deps.config().sessions;
        if (state?.redis) {
          cache = createRedisCache({ connection: state.redis.connection, keyPrefix: `${state.redis.keyPrefix}cache:`, maxEntryBytes: cfg.maxEntryBytes });
          if (sessionsCfg.enabled) sessions = createRedisSessionStore(sessionsCfg, { connection: state.redis.connection, keyPrefix: `${state.redis.keyPrefix}sess:` });
          buffer = createRedisStreamBuffer(deps.config().streams, { connection: state.redis.connection, keyPrefix: `${state.redis.keyPrefix}strm:` });
        } else {
          cache = createMemoryCache({ maxBytes: cfg.maxBytes, maxEntryBytes: cfg.maxEntryBytes });
          if (sessionsCfg.enabled) sessions = createMemorySessionStore(sessionsCfg);
          buffer = createMemoryStreamBuffer(deps.config().streams);
        }
        const jobsCfg = deps.config().jobs;
        if (jobsCfg.enabled && execute) {
          const logger = deps.logger.child({ component: 'jobs' });
          try {
            jobStore = state?.redis
              ? new RedisJobStore(state.redis.connection, `${state.redis.keyPrefix}jobs:`, { resultTtlMs: jobsCfg.resultTtlMs, logger })
              : await FileJobStore.open({ dir: path.join(state?.dataDir ?? 'data', 'jobs'), resultTtlMs: jobsCfg.resultTtlMs, leaseMs: jobsCfg.leaseMs, logger });
          } catch (err) {
            // Another live router owns the jobs folder (two processes on one dataDir): this one
            // serves everything else and answers 503 to job requests, rather than not starting.
            if (!(err instanceof JobStoreLockedError)) throw err;
            logger.error({ err: err.message }, 'background jobs are off on this instance');
          }
        }
        if (jobsCfg.enabled && execute && jobStore) {
          const logger = deps.logger.child({ component: 'jobs' });
          const w = jobsCfg.webhook;
          jobs = createJobRunner({
            store: jobStore,
            concurrency: jobsCfg.concurrency,
            maxQueued: jobsCfg.maxQueued,
            maxRequestBytes: jobsCfg.maxRequestBytes,
            leaseMs: jobsCfg.leaseMs,
            maxAttempts: jobsCfg.maxAttempts,
            retryDelayMs: jobsCfg.retryDelayMs,
            maxRetryDelayMs: jobsCfg.maxRetryDelayMs,
            execute,
            ...(w ? { webhook: createJobWebhook({ allow: w.allow, secret: w.secret, timeoutMs: w.timeoutMs, logger }) } : {}),
            logger,
            instanceId: newInstanceId(),
          });
          await jobs.start();
        }
        resumable = createResumableStreams({ buffer, cfg: deps.config().streams, logger: deps.logger.child({ component: 'streams' }), ...(deps.inflight ? { inflight: deps.inflight } : {}) });
      })();
      return started;
    },
    cache: cacheDeps,
    /** The conversation store; undefined when sessions are off (or before start). */
    sessions: (): SessionStore | undefined => sessions,
    /** Background jobs; undefined when off (or before start). */
    jobs: (): JobRunner | undefined => jobs,
    /** How a job runs (the router's own chat path); set before start. */
    setJobExecutor(fn: JobExecute): void {
      execute = fn;
    },
    /** Resumable streams; undefined before start. */
    resumable: (): ResumableStreams | undefined => resumable,
    cacheMetrics: metrics,
    async close(): Promise<void> {
      // Running jobs go back to the queue (a restart re-runs them), then the store closes.
      await jobs?.close();
      await jobStore?.close();
      resumable?.close();
      await buffer?.close();
      await cache?.close();
      await sessions?.close();
    },
  };
}

export type FeatureRuntime = ReturnType<typeof createFeatureRuntime>;
