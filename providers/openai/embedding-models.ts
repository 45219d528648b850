/**
 * What the router knows about OpenAI's embedding models without asking: the size of their
 * vectors when a request names no `dimensions`. Used by the config check (a route must not
 * fall back between vector spaces of different sizes) and by the adapter to check answers.
 */

/** Vector sizes of OpenAI's embedding models (the same names on Azure). */
const DEFAULT_DIMENSIONS: ReadonlyMap<string, number> = new Map([
  ['text-embedding-3-small', 1536],
  ['text-embedding-3-large', 3072],
  ['text-embedding-ada-002', 1536],
]);

/** The vector size of an OpenAI embedding model by name (lower-cased; own entries only), or undefined. */
export function knownEmbeddingDimensions(model: string): number | undefined {
  return DEFAULT_DIMENSIONS.get(model.trim().toLowerCase());
}
