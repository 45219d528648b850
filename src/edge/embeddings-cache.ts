/**
 * The response cache for embeddings: the same stores, TTLs, scopes and Cache-Control rules as
 * chat (routes.<name>.cache), keyed by a sha256 of the route, the inputs (after the input
 * filters) and `dimensions`. Vectors are stored as base64 float32, inside the cache's entry
 * shape (an answer with no choices and an `embedding` field), so both backends keep them as they are.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../cache/canonical-json.js';
import { scopeOf, type ResponseCache, type RouteCacheConfig } from '../cache/index.js';
import type { ChatResponse } from '../core/chat-response.js';
import type { EmbedRequest, EmbedResponse, EmbedUsage, Target } from '../core/provider.js';
import type { Identity } from '../identity/types.js';
import { cacheDirectives } from './request-cache.js';

interface StoredEmbedding {
  vectors: string[];
  usage?: EmbedUsage;
}

const toBase64 = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
const fromBase64 = (s: string) => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

export interface EmbeddingCacheStep {
  status: 'miss' | 'bypass';
  lookup(): Promise<{ response: EmbedResponse; ageMs: number; target?: { provider: string; model: string } } | undefined>;
  store(response: EmbedResponse, target: Target): void;
}

/** The cache step of an embeddings request, or undefined when its route does not cache. */
export function embeddingCache(cache: ResponseCache | undefined, cfg: RouteCacheConfig | undefined, req: EmbedRequest, identity: Identity, cacheControl: string | string[] | undefined): EmbeddingCacheStep | undefined {
  if (!cache || !cfg) return undefined;
  const { noCache, noStore } = cacheDirectives(cacheControl);
  const read = !noCache;
  const write = !noStore;
  const key = createHash('sha256')
    .update(canonicalJson({ kind: 'embeddings', scope: scopeOf(cfg.scope, identity), route: req.model, inputs: req.inputs, dimensions: req.dimensions ?? null }))
    .digest('hex');
  return {
    status: read && write ? 'miss' : 'bypass',
    async lookup() {
      if (!read) return undefined;
      const hit = await cache.get(key);
      const stored = (hit?.answer.response as unknown as { embedding?: StoredEmbedding } | undefined)?.embedding;
      if (!hit || !stored || !Array.isArray(stored.vectors)) return undefined;
      return {
        response: { model: hit.answer.response.model, vectors: stored.vectors.map(fromBase64), ...(stored.usage ? { usage: stored.usage } : {}) },
        ageMs: hit.ageMs,
        ...(hit.answer.target ? { target: hit.answer.target } : {}),
      };
    },
    store(response, target) {
      if (!write) return;
      const embedding: StoredEmbedding = { vectors: response.vectors.map(toBase64), ...(response.usage ? { usage: response.usage } : {}) };
      const answer = { model: response.model, choices: [], embedding } as unknown as ChatResponse;
      void cache.set(key, { response: answer, storedAt: Date.now(), route: req.model, target: { provider: target.provider, model: target.model } }, cfg.ttlMs, cfg.maxStaleMs).catch(() => {});
    },
  };
}
