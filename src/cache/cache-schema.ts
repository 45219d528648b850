/** Config of the response cache: the global section (bounds of the memory backend) and the per-route part. */
import { z } from 'zod';

import { byteSize } from '../../providers/shared/options.js';

/** Who may share a cached answer. */
export const cacheScopeSchema = z.enum(['key', 'team', 'global']);

const SCOPE_DESCRIPTION =
  'Who shares cached answers: key (each virtual key / caller alone, the default), team (every key of the caller\'s team; a key without a team falls back to key), global (every caller of the route: only for answers that hold nothing private).';

/** A route's cache settings; absent on a route: its answers are never cached. */
export const routeCacheSchema = z.strictObject({
  /** How long an answer is served as fresh. */
  ttlMs: z.number().int().positive().describe('How long a stored answer is served as a fresh cache hit, in milliseconds.'),
  /** Extra time an expired answer is kept for the degradation ladder. */
  maxStaleMs: z
    .number()
    .int()
    .nonnegative()
    .default(0)
    .describe('How long past ttlMs an answer is kept to be served stale (marked so) when every target of the route is down; normal lookups never see stale answers. 0: not kept.'),
  scope: cacheScopeSchema.default('key').describe(SCOPE_DESCRIPTION),
  /** Cache answers sampled with temperature > 0 (or the provider default). */
  cacheTemperature: z
    .boolean()
    .default(false)
    .describe('Also cache requests with temperature > 0 or no temperature (the provider default, 1 on OpenAI): an identical request then gets the same answer instead of a new sample. false: only temperature 0 is cached.'),
  storeTruncated: z.boolean().default(false).describe('Also store answers cut by max_tokens (finish_reason length).'),
  storeFiltered: z.boolean().default(false).describe('Also store answers stopped by a content filter (finish_reason content_filter).'),
  coalesce: z
    .boolean()
    .default(true)
    .describe('Identical cacheable requests in flight at the same time share one upstream call (streams too: a later caller joins and gets the stream from its start).'),
});

/** The global `cache` section. */
export const cacheSchema = z.strictObject({
  maxBytes: byteSize()
    .default(64 * 1024 ** 2)
    .describe('Memory the in-process cache may hold, e.g. "64mb" (answers counted as their JSON size); least recently used answers are evicted past it. Not used with state.backend redis (Redis\'s maxmemory policy applies).'),
  maxEntryBytes: byteSize()
    .default(1024 ** 2)
    .describe('Largest answer stored, e.g. "1mb" (its JSON size); bigger answers are served but not cached.'),
});

/** A route's parsed cache settings. */
export type RouteCacheConfig = z.output<typeof routeCacheSchema>;
/** The parsed global `cache` section. */
export type CacheConfig = z.output<typeof cacheSchema>;
/** Who shares cached answers. */
export type CacheScope = z.output<typeof cacheScopeSchema>;
