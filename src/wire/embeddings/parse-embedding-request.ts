/**
 * App → router: an inbound embeddings body (OpenAI's CreateEmbeddingRequest) read into the
 * internal EmbedRequest. Strict, as OpenAI is (`additionalProperties: false`): an unknown field
 * or a bad value is a 400 naming the field.
 */
import type { RequestMeta } from '../../core/chat-request.js';
import type { EmbedInput, EmbedRequest } from '../../core/provider.js';
import { findTooDeep } from '../json-depth.js';
import { formatParam, isObj, WireValidationError } from '../wire-common.js';

/** Inputs in one request, as OpenAI bounds them. */
export const MAX_EMBEDDING_INPUTS = 2048;
/** Tokens in one token-array input (OpenAI's per-input limit of its embedding models). */
export const MAX_INPUT_TOKENS = 8192;
/** Tokens over all token-array inputs of one request (OpenAI's per-request limit). */
export const MAX_TOTAL_TOKENS = 300_000;
/**
 * Characters over all text inputs of one request. Text cannot be counted in tokens without a
 * tokenizer here; 8 characters a token is generous enough that the upstream's exact 300,000
 * token limit, not this one, is what a real request meets.
 */
export const MAX_TOTAL_CHARS = MAX_TOTAL_TOKENS * 8;
/** Largest `dimensions` accepted (no embedding model comes near it). */
export const MAX_DIMENSIONS = 65_536;
/** Largest token id accepted (int32; an id the model does not know is the model's to refuse). */
const MAX_TOKEN_ID = 2 ** 31 - 1;

export type EmbeddingEncoding = 'float' | 'base64';

export interface ParsedEmbeddingRequest {
  request: EmbedRequest;
  /** How the app wants its vectors: JSON numbers or base64 of little-endian float32. */
  encoding: EmbeddingEncoding;
}

const FIELDS = new Set(['input', 'model', 'encoding_format', 'dimensions', 'user']);

const invalid = (param: string, why: string) => new WireValidationError(`Invalid value for '${param}': ${why}`, param);

/** Parses an app's embeddings body. Throws WireValidationError naming the field. */
export function parseEmbeddingRequest(body: unknown, meta: RequestMeta, opts: { maxDepth?: number } = {}): ParsedEmbeddingRequest {
  if (!isObj(body)) throw new WireValidationError('The request body must be a JSON object.', null);
  // An array of token arrays is two levels below the body: anything deeper is refused before it is walked.
  const deep = findTooDeep(body, opts.maxDepth ?? 64);
  if (deep) throw invalid(formatParam(deep.slice(0, 1)) || 'input', `nested too deeply (at ${formatParam(deep.slice(0, 4))}).`);
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) throw new WireValidationError(`Unrecognized request argument supplied: ${key}`, key);
  }
  const { model, encoding_format: encoding, dimensions, user } = body;
  if (model === undefined) throw new WireValidationError("Missing required parameter: 'model'.", 'model');
  if (typeof model !== 'string' || model === '') throw invalid('model', 'expected a non-empty string.');
  if (body.input === undefined) throw new WireValidationError("Missing required parameter: 'input'.", 'input');
  const inputs = parseInputs(body.input);
  if (encoding !== undefined && encoding !== null && encoding !== 'float' && encoding !== 'base64') {
    throw invalid('encoding_format', "expected 'float' or 'base64'.");
  }
  if (dimensions !== undefined && dimensions !== null && (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_DIMENSIONS)) {
    throw invalid('dimensions', `expected an integer from 1 to ${MAX_DIMENSIONS}.`);
  }
  if (user !== undefined && user !== null && typeof user !== 'string') throw invalid('user', 'expected a string.');
  const request: EmbedRequest = {
    model,
    inputs,
    ...(typeof dimensions === 'number' ? { dimensions } : {}),
    ...(typeof user === 'string' ? { user } : {}),
    meta,
  };
  return { request, encoding: encoding === 'base64' ? 'base64' : 'float' };
}

/** `input`: a string, an array of strings, an array of tokens, or an array of token arrays. */
function parseInputs(input: unknown): EmbedInput[] {
  if (typeof input === 'string') {
    if (input === '') throw invalid('input', 'must not be an empty string.');
    if (input.length > MAX_TOTAL_CHARS) throw invalid('input', `at most ${MAX_TOTAL_CHARS} characters in one request.`);
    return [input];
  }
  if (!Array.isArray(input)) throw invalid('input', 'expected a string, an array of strings, an array of integers (tokens) or an array of token arrays.');
  if (input.length === 0) throw invalid('input', 'must not be empty.');
  const first: unknown = input[0];
  // An array of integers is one input of tokens; otherwise each element is one input.
  if (typeof first === 'number') return [tokenArray(input, 'input', { total: 0 })];
  if (input.length > MAX_EMBEDDING_INPUTS) throw invalid('input', `at most ${MAX_EMBEDDING_INPUTS} inputs in one request (got ${input.length}).`);
  if (typeof first === 'string') {
    let chars = 0;
    return input.map((s: unknown, i) => {
      const param = `input[${i}]`;
      if (typeof s !== 'string') throw invalid(param, 'expected a string (an array of inputs holds strings only, or token arrays only).');
      if (s === '') throw invalid(param, 'must not be an empty string.');
      chars += s.length;
      if (chars > MAX_TOTAL_CHARS) throw invalid('input', `at most ${MAX_TOTAL_CHARS} characters in one request.`);
      return s;
    });
  }
  if (Array.isArray(first)) {
    const count = { total: 0 };
    return input.map((t: unknown, i) => {
      const param = `input[${i}]`;
      if (!Array.isArray(t)) throw invalid(param, 'expected an array of integers (an array of inputs holds token arrays only, or strings only).');
      return tokenArray(t, param, count);
    });
  }
  throw invalid('input[0]', 'expected a string, an integer (token) or an array of integers.');
}

/** One token-array input; `count.total` adds up the tokens of the request. */
function tokenArray(tokens: unknown[], param: string, count: { total: number }): number[] {
  if (tokens.length === 0) throw invalid(param, 'must not be an empty array.');
  if (tokens.length > MAX_INPUT_TOKENS) throw invalid(param, `at most ${MAX_INPUT_TOKENS} tokens in one input (got ${tokens.length}).`);
  count.total += tokens.length;
  if (count.total > MAX_TOTAL_TOKENS) throw invalid('input', `at most ${MAX_TOTAL_TOKENS} tokens in one request.`);
  for (let j = 0; j < tokens.length; j++) {
    const t = tokens[j];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > MAX_TOKEN_ID) throw invalid(`${param}[${j}]`, 'expected a token: an integer ≥ 0.');
  }
  return tokens as number[];
}
