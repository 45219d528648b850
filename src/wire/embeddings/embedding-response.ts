/** Router → app: an embeddings answer as OpenAI's CreateEmbeddingResponse JSON text. */
import type { EmbedResponse, EmbedUsage } from '../../core/provider.js';
import type { EmbeddingEncoding } from './parse-embedding-request.js';
import { float32ToBase64, float32ToJson } from './vector-encoding.js';

/**
 * The JSON body, written as text: an answer of 2,048 vectors of 3,072 floats would otherwise
 * be built as millions of JS numbers in arrays before JSON.stringify walks them again.
 */
export function toWireEmbeddingResponse(r: Pick<EmbedResponse, 'model' | 'vectors'>, usage: EmbedUsage, encoding: EmbeddingEncoding): string {
  const encode = encoding === 'base64' ? (v: Float32Array) => JSON.stringify(float32ToBase64(v)) : float32ToJson;
  const data = r.vectors.map((v, index) => `{"object":"embedding","index":${index},"embedding":${encode(v)}}`);
  const tail = JSON.stringify({ model: r.model, usage: { prompt_tokens: usage.promptTokens, total_tokens: usage.totalTokens } }).slice(1);
  return `{"object":"list","data":[${data.join(',')}],${tail}`;
}
