/**
 * The response cache on the request path: whether a request may read or write the cache
 * (the route's settings, `Cache-Control` from the app), its key, and identical requests in
 * flight sharing one upstream call. Answers are stored as the upstream gave them, before the
 * output filters: a hit goes through the filters of the request it answers.
 */
import { cacheKey, isCacheable, isStorable, scopeOf, type CacheLookup, type ResponseCache, type RouteCacheConfig } from '../cache/index.js';
import type { createCoalescer, createStreamCoalescer } from '../cache/index.js';
import type { ChatRequest } from '../core/chat-request.js';
import type { ChatChunk, ChatResponse } from '../core/chat-response.js';
import type { Target } from '../core/provider.js';
import type { RouteConfig } from '../config/schema.js';
import type { Identity } from '../identity/types.js';
import type { RoutedResponse, RoutedStream } from '../routing/dispatcher.js';

/** Response header: hit, stale (served past its TTL because no target could answer), miss, bypass. */
export const CACHE_HEADER = 'x-router-cache';
/** Response header on an answer shared with an identical request in flight. */
export const COALESCED_HEADER = 'x-router-coalesced';

export interface CacheDeps {
  cache: () => ResponseCache | undefined;
  chatCoalescer: ReturnType<typeof createCoalescer<RoutedResponse>>;
  streamCoalescer: ReturnType<typeof createStreamCoalescer<ChatChunk>>;
  onStoreError?: (err: unknown) => void;
}

/** What one request may do with the cache. */
export interface RequestCache {
  readonly key: string;
  readonly cfg: RouteCacheConfig;
  /** `miss` or `bypass`, for the header of an answer not served from the cache. */
  readonly status: 'miss' | 'bypass';
  readonly read: boolean;
  lookup(allowStale: boolean): Promise<CacheLookup | undefined>;
  /** Stores a whole answer when the route's rules allow it (never throws, never waits). */
  store(response: ChatResponse, target: Target): void;
  chat(run: (signal: AbortSignal) => Promise<RoutedResponse>, signal: AbortSignal): Promise<{ served: RoutedResponse; shared: boolean }>;
  stream(open: (signal: AbortSignal) => Promise<RoutedStream>, signal: AbortSignal): Promise<{ served: RoutedStream; shared: boolean }>;
}

/** `Cache-Control` directives of the app: no-cache (do not read), no-store (do not write). */
export function cacheDirectives(header: string | string[] | undefined): { noCache: boolean; noStore: boolean } {
  const text = (Array.isArray(header) ? header.join(',') : (header ?? '')).toLowerCase();
  const parts = new Set(text.split(',').map((p) => p.trim()));
  return { noCache: parts.has('no-cache'), noStore: parts.has('no-store') };
}

/** The cache step of a request, or undefined when the route does not cache or the request may not be cached. */
export function requestCache(deps: CacheDeps, chat: ChatRequest, route: RouteConfig, identity: Identity, cacheControl: string | string[] | undefined): RequestCache | undefined {
  const cfg = route.cache;
  const cache = deps.cache();
  if (!cfg || !cache || !isCacheable(chat, cfg)) return undefined;
  const { noCache, noStore } = cacheDirectives(cacheControl);
  const key = cacheKey(chat, scopeOf(cfg.scope, identity));
  const read = !noCache;
  const write = !noStore;
  const coalesce = cfg.coalesce && read && write;
  return {
    key,
    cfg,
    status: read && write ? 'miss' : 'bypass',
    read,
    lookup: (allowStale) => (read || allowStale ? cache.get(key, { allowStale }) : Promise.resolve(undefined)),
    store(response, target) {
      if (!write || !isStorable(response, cfg)) return;
      void cache.set(key, { response: structuredClone(response), storedAt: Date.now(), route: chat.model, target: { provider: target.provider, model: target.model } }, cfg.ttlMs, cfg.maxStaleMs).catch((err: unknown) => deps.onStoreError?.(err));
    },
    async chat(run, signal) {
      if (!coalesce) return { served: await run(signal), shared: false };
      const { value, shared } = await deps.chatCoalescer.run(key, run, signal);
      // Every caller filters its own copy (the output filters rewrite an answer in place).
      return { served: { ...value, response: structuredClone(value.response) }, shared };
    },
    async stream(open, signal) {
      if (!coalesce) return { served: await open(signal), shared: false };
      // The shared source carries the envelope (target, model, attempts) for every joiner.
      const joined = await deps.streamCoalescer.join(key, async (s) => {
        const routed = await open(s);
        return { routed, [Symbol.asyncIterator]: () => routed.stream.chunks[Symbol.asyncIterator]() };
      }, signal);
      const served = joined.source.routed;
      return { served: { ...served, stream: { ...served.stream, chunks: joined.items } }, shared: joined.shared };
    },
  };
}

/**
 * Passes a stream on and, when it ended whole (every choice finished, no error), stores the
 * answer it adds up to.
 */
export async function* storeWhenWhole(chunks: AsyncIterable<ChatChunk>, model: string, choices: number, store: (r: ChatResponse) => void): AsyncIterable<ChatChunk> {
  const texts = new Map<number, { text: string; refusal: string; tools: Map<number, { id: string; type: 'function'; function: { name: string; arguments: string } }>; finish?: ChatResponse['choices'][number]['finishReason'] }>();
  const choice = (i: number) => {
    let c = texts.get(i);
    if (!c) texts.set(i, (c = { text: '', refusal: '', tools: new Map() }));
    return c;
  };
  let usage: ChatResponse['usage'];
  for await (const chunk of chunks) {
    if (chunk.type === 'usage') usage = chunk.usage;
    else if (chunk.type === 'finish') choice(chunk.index).finish = chunk.finish;
    else {
      const c = choice(chunk.index);
      if (chunk.text) c.text += chunk.text;
      if (chunk.refusal) c.refusal += chunk.refusal;
      for (const d of chunk.toolCalls ?? []) {
        const call = c.tools.get(d.index) ?? { id: '', type: 'function' as const, function: { name: '', arguments: '' } };
        if (d.id) call.id = d.id;
        if (d.function?.name) call.function.name += d.function.name;
        if (d.function?.arguments) call.function.arguments += d.function.arguments;
        c.tools.set(d.index, call);
      }
    }
    yield chunk;
  }
  const all = [...texts.entries()];
  if (all.length < choices || all.some(([, c]) => !c.finish)) return;
  store({
    model,
    choices: all.map(([index, c]) => ({
      index,
      message: { content: c.text === '' && c.tools.size ? null : c.text, ...(c.refusal ? { refusal: c.refusal } : {}), ...(c.tools.size ? { toolCalls: [...c.tools.values()] } : {}) },
      finishReason: c.finish!,
    })),
    ...(usage ? { usage } : {}),
  });
}
