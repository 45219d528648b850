import { describe, expect, it } from 'vitest';
import { parseEmbeddingRequest, MAX_EMBEDDING_INPUTS, MAX_INPUT_TOKENS, MAX_TOTAL_TOKENS } from '../../../src/wire/embeddings/parse-embedding-request.js';
import { base64ToFloat32, float32ToBase64, float32ToJson } from '../../../src/wire/embeddings/vector-encoding.js';
import { toWireEmbeddingResponse } from '../../../src/wire/embeddings/embedding-response.js';
import { fromWireEmbeddingResponse, toWireEmbeddingRequest } from '../../../src/wire/embeddings/upstream-embeddings.js';
import { WireValidationError } from '../../../src/wire/wire-common.js';

const meta = { requestId: 'r1', receivedAt: 0 };
const parse = (body: unknown, opts?: { maxDepth?: number }) => parseEmbeddingRequest(body, meta, opts);

/** The WireValidationError `body` is refused with. */
function refusal(body: unknown): WireValidationError {
  try {
    parse(body);
  } catch (err) {
    expect(err).toBeInstanceOf(WireValidationError);
    return err as WireValidationError;
  }
  throw new Error('expected the body to be refused');
}

describe('parseEmbeddingRequest', () => {
  it('reads each form of input as a list of inputs', () => {
    expect(parse({ model: 'e', input: 'one text' }).request.inputs).toEqual(['one text']);
    expect(parse({ model: 'e', input: ['a', 'b'] }).request.inputs).toEqual(['a', 'b']);
    expect(parse({ model: 'e', input: [1212, 318, 257] }).request.inputs).toEqual([[1212, 318, 257]]);
    expect(parse({ model: 'e', input: [[1, 2], [3]] }).request.inputs).toEqual([[1, 2], [3]]);
  });

  it('reads model, dimensions, user and the encoding (float by default)', () => {
    const p = parse({ model: 'embed', input: 'x', dimensions: 256, user: 'u-1', encoding_format: 'base64' });
    expect(p.encoding).toBe('base64');
    expect(p.request).toEqual({ model: 'embed', inputs: ['x'], dimensions: 256, user: 'u-1', meta });
    expect(parse({ model: 'embed', input: 'x' }).encoding).toBe('float');
    expect(parse({ model: 'embed', input: 'x', encoding_format: null, dimensions: null }).request.dimensions).toBeUndefined();
  });

  it.each([
    [{ input: 'x' }, 'model', /Missing required parameter: 'model'/],
    [{ model: '', input: 'x' }, 'model', /non-empty string/],
    [{ model: 'e' }, 'input', /Missing required parameter: 'input'/],
    [{ model: 'e', input: '' }, 'input', /empty string/],
    [{ model: 'e', input: [] }, 'input', /must not be empty/],
    [{ model: 'e', input: 7 }, 'input', /expected a string/],
    [{ model: 'e', input: ['a', ''] }, 'input[1]', /empty string/],
    [{ model: 'e', input: ['a', 3] }, 'input[1]', /strings only/],
    [{ model: 'e', input: [[1], 'a'] }, 'input[1]', /token arrays only/],
    [{ model: 'e', input: [[1], []] }, 'input[1]', /empty array/],
    [{ model: 'e', input: [[1, -2]] }, 'input[0][1]', /token/],
    [{ model: 'e', input: [1, 2.5] }, 'input[1]', /token/],
    [{ model: 'e', input: [{ text: 'a' }] }, 'input[0]', /expected/],
    [{ model: 'e', input: 'x', encoding_format: 'binary' }, 'encoding_format', /'float' or 'base64'/],
    [{ model: 'e', input: 'x', dimensions: 0 }, 'dimensions', /integer from 1/],
    [{ model: 'e', input: 'x', dimensions: 1.5 }, 'dimensions', /integer/],
    [{ model: 'e', input: 'x', dimensions: '256' }, 'dimensions', /integer/],
    [{ model: 'e', input: 'x', user: 5 }, 'user', /string/],
    [{ model: 'e', input: 'x', temperature: 1 }, 'temperature', /Unrecognized request argument/],
  ])('refuses %j naming %s', (body, param, message) => {
    const err = refusal(body);
    expect(err.param).toBe(param);
    expect(err.message).toMatch(message);
  });

  it('refuses a body that is not an object', () => {
    expect(refusal([1, 2]).param).toBeNull();
    expect(refusal('text').param).toBeNull();
  });

  it('bounds the number of inputs and their tokens', () => {
    expect(parse({ model: 'e', input: Array.from({ length: MAX_EMBEDDING_INPUTS }, () => 'a') }).request.inputs).toHaveLength(MAX_EMBEDDING_INPUTS);
    expect(refusal({ model: 'e', input: Array.from({ length: MAX_EMBEDDING_INPUTS + 1 }, () => 'a') }).message).toMatch(/at most 2048 inputs/);
    expect(refusal({ model: 'e', input: new Array(MAX_INPUT_TOKENS + 1).fill(1) }).message).toMatch(/at most 8192 tokens in one input/);
    const many = Array.from({ length: Math.ceil(MAX_TOTAL_TOKENS / MAX_INPUT_TOKENS) + 1 }, () => new Array(MAX_INPUT_TOKENS).fill(1));
    const err = refusal({ model: 'e', input: many });
    expect(err.param).toBe('input');
    expect(err.message).toMatch(/at most 300000 tokens in one request/);
  });

  it('refuses nesting deeper than the limit before reading it', () => {
    expect(refusal({ model: 'e', input: [[[1]]] }).param).toBe('input[0][0]');
    const err = (() => {
      try {
        parse({ model: 'e', input: [[1]] }, { maxDepth: 2 });
      } catch (e) {
        return e as WireValidationError;
      }
      return undefined;
    })();
    expect(err?.param).toBe('input');
  });
});

describe('vector encoding', () => {
  const v = Float32Array.from([0.1, -0.25, 3.4028234663852886e38, 1e-45, 0]);

  it('base64 is the float32 values, little-endian', () => {
    const text = float32ToBase64(v);
    const bytes = Buffer.from(text, 'base64');
    expect(bytes.length).toBe(20);
    expect(bytes.readFloatLE(4)).toBe(-0.25);
    expect(base64ToFloat32(text)).toEqual(v);
    // What the openai SDK's own decoder reads (Float32Array over the bytes, on a little-endian host).
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, 5))).toEqual(Array.from(v));
  });

  it('refuses base64 that is not a whole number of floats', () => {
    expect(() => base64ToFloat32(Buffer.from([1, 2, 3]).toString('base64'))).toThrow(/whole number/);
  });

  it('float JSON reads back as the same float32 values', () => {
    const random = Float32Array.from({ length: 2000 }, (_, i) => Math.sin(i * 12.9898) * 0.07);
    const back = Float32Array.from(JSON.parse(float32ToJson(random)) as number[]);
    expect(back).toEqual(random);
    expect(float32ToJson(Float32Array.from([0.5, -1, 0]))).toBe('[0.5,-1,0]');
  });
});

describe('toWireEmbeddingResponse', () => {
  const vectors = [Float32Array.from([0.6, 0.8]), Float32Array.from([1, 0])];

  it('writes OpenAI’s list with floats', () => {
    const body = JSON.parse(toWireEmbeddingResponse({ model: 'text-embedding-3-small', vectors }, { promptTokens: 4, totalTokens: 4 }, 'float'));
    expect(body).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.600000024, 0.800000012] },
        { object: 'embedding', index: 1, embedding: [1, 0] },
      ],
      model: 'text-embedding-3-small',
      usage: { prompt_tokens: 4, total_tokens: 4 },
    });
    expect(Math.fround(body.data[0].embedding[0])).toBe(vectors[0]![0]);
  });

  it('writes base64 vectors when asked', () => {
    const body = JSON.parse(toWireEmbeddingResponse({ model: 'm', vectors }, { promptTokens: 1, totalTokens: 1 }, 'base64'));
    expect(base64ToFloat32(body.data[1].embedding)).toEqual(vectors[1]);
  });
});

describe('upstream embeddings mapping', () => {
  it('asks for base64 and forwards dimensions and user', () => {
    const body = toWireEmbeddingRequest({ model: 'route', inputs: ['a', 'b'], dimensions: 64, user: 'u', meta }, 'text-embedding-3-small');
    expect(body).toEqual({ model: 'text-embedding-3-small', input: ['a', 'b'], encoding_format: 'base64', dimensions: 64, user: 'u' });
    expect(toWireEmbeddingRequest({ model: 'route', inputs: [[1, 2]], meta }, 'm')).toEqual({ model: 'm', input: [[1, 2]], encoding_format: 'base64' });
  });

  it('reads base64 or float vectors in index order, and the usage', () => {
    const a = Float32Array.from([0.5, 0.5]);
    const r = fromWireEmbeddingResponse(
      { data: [{ index: 1, embedding: [1, 0] }, { index: 0, embedding: float32ToBase64(a) }], model: 'up', usage: { prompt_tokens: 7, total_tokens: 7 }, extra: true },
      2,
      'fallback',
    );
    expect(r.model).toBe('up');
    expect(r.vectors).toEqual([a, Float32Array.from([1, 0])]);
    expect(r.usage).toEqual({ promptTokens: 7, totalTokens: 7 });
    expect(fromWireEmbeddingResponse({ data: [{ embedding: [1] }] }, 1, 'fallback')).toEqual({ model: 'fallback', vectors: [Float32Array.from([1])] });
  });

  it.each([
    [{}, /no data array/],
    [{ data: [{ index: 0, embedding: [1] }] }, /1 embeddings for 2 inputs/],
    [{ data: [{ index: 0, embedding: [1] }, { index: 0, embedding: [1] }] }, /repeated/],
    [{ data: [{ index: 0, embedding: [1] }, { index: 1, embedding: { a: 1 } }] }, /neither base64/],
  ])('refuses %j', (json, message) => {
    expect(() => fromWireEmbeddingResponse(json, 2, 'm')).toThrow(message);
  });
});
