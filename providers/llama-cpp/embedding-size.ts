/**
 * Vector sizes of local models known without loading them, for the config check (a route
 * must not fall back between vector spaces of different sizes). Only the router's built-in
 * model is known: any other GGUF's size is for the operator to state (`dimensions` on the
 * target). test/unit/providers/embed-local.test.ts checks the value against the generator.
 */

/** The built-in tiny model's vector size (llama.embedding_length of the generated file from models/corpus.txt). */
export const TINY_EMBEDDING_SIZE = 256;

/**
 * The size of `model`'s vectors on a llama-cpp provider, when known: the built-in `tiny` of the
 * router's own registry (a provider with its own `registry` may map `tiny` to any file).
 */
export function knownLocalEmbeddingSize(model: string, provider: { registry?: unknown; model?: unknown }): number | undefined {
  const id = model || (typeof provider.model === 'string' ? provider.model : '');
  return id === 'tiny' && provider.registry === undefined ? TINY_EMBEDDING_SIZE : undefined;
}
