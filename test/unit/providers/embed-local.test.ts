import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_CORPUS_PATH } from '../../../models/paths.js';
import { buildTinyModelWithSummary } from '../../../models/gguf/tiny-llama.js';
import type { EmbedRequest } from '../../../src/core/provider.js';
import { ProviderError } from '../../../src/core/provider-error.js';
import { EmbedBatcher, type EmbedResult } from '../../../providers/llama-cpp/embed-batcher.js';
import { normalizeL2, shapeVector } from '../../../providers/llama-cpp/embed-vectors.js';
import { knownLocalEmbeddingSize, TINY_EMBEDDING_SIZE } from '../../../providers/llama-cpp/embedding-size.js';
import type { WorkerEmbedItem } from '../../../providers/llama-cpp/protocol.js';
import { WorkerProcess } from '../../../providers/llama-cpp/worker-process.js';
import { createLlamaEnv, failure, noSignal, tinyTarget, type LlamaEnv } from '../../fixtures/llama-env.js';

const norm = (v: Float32Array) => Math.hypot(...v);
const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('local embedding vectors', () => {
  it('normalises to unit length and leaves a zero vector alone', () => {
    expect(Array.from(normalizeL2(Float32Array.from([3, 4])))).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(Array.from(normalizeL2(new Float32Array(3)))).toEqual([0, 0, 0]);
  });

  it('shortens to `dimensions` and renormalises', () => {
    const v = shapeVector(Float32Array.from([3, 4, 12]), 2);
    expect(v).toHaveLength(2);
    expect(Array.from(v)).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(norm(shapeVector(Float32Array.from([3, 4, 12])))).toBeCloseTo(1, 6);
  });

  it('knows the built-in model’s size, as the generator makes it', async () => {
    const corpus = await readFile(DEFAULT_CORPUS_PATH, 'utf8');
    expect(buildTinyModelWithSummary({ corpus }).summary.nEmbd).toBe(TINY_EMBEDDING_SIZE);
    expect(knownLocalEmbeddingSize('tiny', {})).toBe(TINY_EMBEDDING_SIZE);
    expect(knownLocalEmbeddingSize('', { model: 'tiny' })).toBe(TINY_EMBEDDING_SIZE);
    // A registry of the operator's own may map "tiny" to any file.
    expect(knownLocalEmbeddingSize('tiny', { registry: 'my-models.yaml' })).toBeUndefined();
    expect(knownLocalEmbeddingSize('nomic-embed', {})).toBeUndefined();
  });
});

describe('EmbedBatcher', () => {
  const result = (n: number): EmbedResult => ({ vectors: Array.from({ length: n }, () => Float32Array.from([1])), tokens: n, size: 1 });

  function setup(over: { maxQueued?: number; maxBatchTexts?: number; accept?: () => boolean } = {}) {
    const sent: WorkerEmbedItem[][] = [];
    const aborted: number[] = [];
    let id = 1;
    const b = new EmbedBatcher({
      providerId: 'local',
      modelId: 'tiny',
      windowMs: 5,
      maxBatchTexts: over.maxBatchTexts ?? 8,
      maxQueued: over.maxQueued ?? 10,
      nextId: () => id++,
      send: (items) => (over.accept?.() ?? true) && sent.push(items) > 0,
      abort: (i) => void aborted.push(i),
      onSuccess: () => {},
    });
    return { b, sent, aborted };
  }

  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('sends requests arriving within the window in one batch, the next batch when it is answered', async () => {
    const { b, sent } = setup();
    const one = b.submit(['a'], noSignal());
    const two = b.submit(['b', 'c'], noSignal());
    b.pump();
    b.pump();
    expect(sent).toHaveLength(0);
    await tick(15);
    expect(sent).toEqual([[{ id: 1, texts: ['a'] }, { id: 2, texts: ['b', 'c'] }]]);
    const three = b.submit(['d'], noSignal());
    b.pump();
    await tick(15);
    // One batch in the worker at a time.
    expect(sent).toHaveLength(1);
    b.settle(1, { ok: true, result: result(1) });
    b.settle(2, { ok: true, result: result(2) });
    await expect(one).resolves.toMatchObject({ tokens: 1 });
    await expect(two).resolves.toMatchObject({ tokens: 2 });
    await tick(15);
    expect(sent[1]).toEqual([{ id: 3, texts: ['d'] }]);
    b.settle(3, { ok: false, kind: 'invalid_request', message: 'input[0] is 9000 tokens' });
    const err = await three.catch((e: unknown) => e as ProviderError);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ kind: 'invalid_request', param: 'input', retryable: false });
  });

  it('sends a full batch at once and keeps what does not fit for the next', () => {
    const { b, sent } = setup({ maxBatchTexts: 3 });
    void b.submit(['a', 'b'], noSignal());
    void b.submit(['c', 'd'], noSignal());
    b.pump();
    expect(sent).toEqual([[{ id: 1, texts: ['a', 'b'] }]]);
    expect(b.queued).toBe(1);
  });

  it('drops a request aborted in the queue; releases one aborted in the worker and tells the worker', async () => {
    const { b, sent, aborted } = setup({ maxBatchTexts: 1 });
    const inWorker = new AbortController();
    const queued = new AbortController();
    const first = b.submit(['a'], inWorker.signal);
    const second = b.submit(['b'], queued.signal);
    b.pump();
    expect(sent).toHaveLength(1);
    queued.abort();
    await expect(second).rejects.toMatchObject({ kind: 'aborted' });
    inWorker.abort();
    await expect(first).rejects.toMatchObject({ kind: 'aborted' });
    expect(aborted).toEqual([1]);
    // The batch is over once the worker confirms; nothing is left to send.
    b.settle(1, { ok: false, kind: 'aborted', message: 'aborted' });
    expect(b.running).toBe(0);
    expect(b.queued).toBe(0);
  });

  it('refuses beyond its queue with kind capacity', async () => {
    const { b } = setup({ maxQueued: 1 });
    void b.submit(['a'], noSignal());
    await expect(b.submit(['b'], noSignal())).rejects.toMatchObject({ kind: 'capacity' });
  });

  it('keeps a batch no worker could take, and fails requests when the worker dies', async () => {
    let up = false;
    const { b, sent } = setup({ maxBatchTexts: 1, accept: () => up });
    const first = b.submit(['a'], noSignal());
    const second = b.submit(['b'], noSignal());
    b.pump();
    expect(sent).toHaveLength(0);
    up = true;
    b.pump();
    expect(sent).toHaveLength(1);
    const crash = new ProviderError({ kind: 'server', provider: 'local', message: 'worker died', retryable: true });
    b.fail(crash, false);
    await expect(first).rejects.toBe(crash);
    expect(b.queued).toBe(1);
    b.fail(crash, true);
    await expect(second).rejects.toBe(crash);
  });
});

describe('llama-cpp provider embeddings (real node-llama-cpp)', () => {
  let env: LlamaEnv;
  // One provider (one worker) for the tests that need nothing else: a worker boot takes seconds.
  let p: ReturnType<LlamaEnv['provider']>;
  beforeAll(async () => {
    env = await createLlamaEnv();
    p = env.provider();
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await env.cleanup();
  });

  const req = (inputs: EmbedRequest['inputs'], extra: Partial<EmbedRequest> = {}): EmbedRequest => ({ model: 'embed', inputs, meta: { requestId: 't', receivedAt: 0 }, ...extra });

  it('answers unit vectors of the model’s size, the same for the same text, closer for texts sharing words', async () => {
    const r = await p.embed(req(['the router answers offline', 'the router answers quickly', 'tell me a story']), tinyTarget, { signal: noSignal() });
    expect(r.model).toBe('tiny');
    expect(r.vectors).toHaveLength(3);
    for (const v of r.vectors) {
      expect(v).toHaveLength(TINY_EMBEDDING_SIZE);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
    const [a, b, c] = r.vectors as [Float32Array, Float32Array, Float32Array];
    expect(cosine(a, b)).toBeGreaterThan(cosine(a, c));
    const again = await p.embed(req(['the router answers offline']), tinyTarget, { signal: noSignal() });
    expect(again.vectors[0]).toEqual(a);
    // Tokens by the model's own tokenizer (beginning-of-text token included).
    expect(r.usage!.promptTokens).toBeGreaterThanOrEqual(3 * 3);
    expect(r.usage!.totalTokens).toBe(r.usage!.promptTokens);
    expect(p.embeddingDimensions('tiny')).toBe(TINY_EMBEDDING_SIZE);
  });

  it('batches concurrent requests into one worker message', async () => {
    await p.embed(req(['warm up']), tinyTarget, { signal: noSignal() });
    const send = vi.spyOn(WorkerProcess.prototype, 'send');
    const texts = ['one', 'two words', 'three little words', 'four', 'five'];
    const all = await Promise.all(texts.map((t) => p.embed(req([t]), tinyTarget, { signal: noSignal() })));
    const embeds = send.mock.calls.filter(([m]) => m.t === 'embed');
    send.mockRestore();
    expect(embeds).toHaveLength(1);
    // One message with every text (the order they reach the batcher depends on their own preparation).
    expect((embeds[0]![0] as { items: WorkerEmbedItem[] }).items.map((i) => i.texts[0]).sort()).toEqual([...texts].sort());
    const alone = await p.embed(req(['two words']), tinyTarget, { signal: noSignal() });
    expect(all[1]!.vectors[0]).toEqual(alone.vectors[0]);
  });

  it('shortens to `dimensions` and renormalises; refuses more than the model has, for the next target to try', async () => {
    const full = await p.embed(req(['the router answers offline']), tinyTarget, { signal: noSignal() });
    const short = await p.embed(req(['the router answers offline'], { dimensions: 64 }), tinyTarget, { signal: noSignal() });
    expect(short.vectors[0]).toHaveLength(64);
    expect(norm(short.vectors[0]!)).toBeCloseTo(1, 5);
    expect(Array.from(short.vectors[0]!)).toEqual(Array.from(shapeVector(full.vectors[0]!.slice(), 64)));
    const err = await failure(p.embed(req(['x'], { dimensions: TINY_EMBEDDING_SIZE + 1 }), tinyTarget, { signal: noSignal() }));
    expect(err).toMatchObject({ kind: 'invalid_request', param: 'dimensions', retryable: true });
    expect(err.message).toMatch(/256 dimensions/);
  });

  it('reads token arrays as OpenAI’s encoding (cl100k_base), decoded to text for the local tokenizer', async () => {
    // "The quick brown fox" in cl100k_base.
    const tokens = await p.embed(req([[791, 4062, 14198, 39935]]), tinyTarget, { signal: noSignal() });
    const text = await p.embed(req(['The quick brown fox']), tinyTarget, { signal: noSignal() });
    expect(tokens.vectors[0]).toEqual(text.vectors[0]);
    const err = await failure(p.embed(req([[999_999_999]]), tinyTarget, { signal: noSignal() }));
    expect(err).toMatchObject({ kind: 'invalid_request', param: 'input[0]' });
  });

  it('refuses an input longer than the model’s context as the caller’s mistake', async () => {
    await env.writeRegistry({ tiny: { file: 'tiny.gguf' }, short: { file: 'tiny.gguf', contextSize: 64 } });
    const err = await failure(env.provider().embed(req(['fine', 'word '.repeat(200)]), { provider: 'local', model: 'short' }, { signal: noSignal() }));
    expect(err).toMatchObject({ kind: 'invalid_request', retryable: false });
    expect(err.message).toMatch(/input\[1\] is \d+ tokens; model short embeds at most 63/);
  });

  it('stops a request in the worker when the caller aborts, and serves the next', async () => {
    const send = vi.spyOn(WorkerProcess.prototype, 'send');
    const ctl = new AbortController();
    const pending = p.embed(req(Array.from({ length: 2000 }, (_, i) => `text number ${i} about the router`)), tinyTarget, { signal: ctl.signal });
    await vi.waitFor(() => expect(send.mock.calls.some(([m]) => m.t === 'embed')).toBe(true));
    ctl.abort();
    expect(await failure(pending)).toMatchObject({ kind: 'aborted' });
    expect(send.mock.calls.some(([m]) => m.t === 'abort')).toBe(true);
    send.mockRestore();
    const next = await p.embed(req(['still here']), tinyTarget, { signal: noSignal() });
    expect(next.vectors).toHaveLength(1);
  });
});
