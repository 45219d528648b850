/**
 * Router ↔ OpenAI-style upstream (OpenAI, Azure, compatible servers) for embeddings: the body
 * sent, and the answer read loosely (only what we need: extra fields never break us).
 */
import type { EmbedRequest, EmbedResponse, EmbedUsage } from '../../core/provider.js';
import { isObj } from '../wire-common.js';
import { base64ToFloat32 } from './vector-encoding.js';

/**
 * The upstream body for `model` (the provider's name for it: an Azure deployment). Vectors are
 * asked for in base64, as the openai SDK does by default: exact float32, a third of the bytes.
 */
export function toWireEmbeddingRequest(req: EmbedRequest, model: string): Record<string, unknown> {
  return {
    model,
    input: req.inputs,
    encoding_format: 'base64',
    ...(req.dimensions !== undefined ? { dimensions: req.dimensions } : {}),
    ...(req.user !== undefined ? { user: req.user } : {}),
  };
}

function readVector(embedding: unknown, i: number): Float32Array {
  // base64 as asked; a server that ignores encoding_format sends numbers.
  if (typeof embedding === 'string') return base64ToFloat32(embedding);
  if (Array.isArray(embedding) && embedding.every((x) => typeof x === 'number')) return Float32Array.from(embedding as number[]);
  throw new TypeError(`data[${i}].embedding is neither base64 nor an array of numbers`);
}

function readUsage(u: unknown): EmbedUsage | undefined {
  if (!isObj(u) || typeof u.prompt_tokens !== 'number' || !Number.isFinite(u.prompt_tokens)) return undefined;
  const prompt = Math.max(0, Math.floor(u.prompt_tokens));
  const total = typeof u.total_tokens === 'number' && Number.isFinite(u.total_tokens) ? Math.max(0, Math.floor(u.total_tokens)) : prompt;
  return { promptTokens: prompt, totalTokens: total };
}

/**
 * Reads an upstream's embeddings answer for `count` inputs, in input order (by each item's
 * `index`). Throws a TypeError when it is not one: no data array, a missing or repeated
 * index, a vector that is not one.
 */
export function fromWireEmbeddingResponse(json: unknown, count: number, fallbackModel: string): EmbedResponse {
  if (!isObj(json) || !Array.isArray(json.data)) throw new TypeError('upstream answer has no data array');
  if (json.data.length !== count) throw new TypeError(`upstream answered ${json.data.length} embeddings for ${count} inputs`);
  const vectors = new Array<Float32Array | undefined>(count);
  json.data.forEach((item: unknown, i: number) => {
    const it = isObj(item) ? item : {};
    const index = typeof it.index === 'number' ? it.index : i;
    if (!Number.isInteger(index) || index < 0 || index >= count || vectors[index]) throw new TypeError(`data[${i}].index ${String(it.index)} is out of range or repeated`);
    vectors[index] = readVector(it.embedding, i);
  });
  const usage = readUsage(json.usage);
  return {
    model: typeof json.model === 'string' && json.model ? json.model : fallbackModel,
    vectors: vectors as Float32Array[],
    ...(usage ? { usage } : {}),
  };
}
