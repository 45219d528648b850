/** The response cache and request coalescing: what the rest of the router uses. */
export { cacheKey, keyMaterial, PASSTHROUGH_NOT_IN_KEY, scopeOf } from './cache-key.js';
export { cacheSchema, cacheScopeSchema, routeCacheSchema, type CacheConfig, type CacheScope, type RouteCacheConfig } from './cache-schema.js';
export { isCacheable, isStorable } from './cacheable.js';
export { createCoalescer, createStreamCoalescer, type Coalescer, type JoinedStream, type StreamCoalescer, type StreamCoalescerOptions } from './coalesce.js';
export { replayStream, type ReplayOptions } from './replay.js';
export {
  createMemoryCache,
  createRedisCache,
  type CacheLookup,
  type CacheStats,
  type CachedAnswer,
  type MemoryCacheOptions,
  type RedisCacheOptions,
  type ResponseCache,
} from './response-cache.js';
