import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChatMLChatWrapper,
  getLlama,
  LlamaChatSession,
  LlamaCompletion,
  readGgufFileInfo,
  type Llama,
  type LlamaContext,
  type LlamaModel,
} from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTinyModel, makeTinyModelFile } from '../../../models/gguf/ensure-tiny-model.js';
import { GgmlType, writeGguf } from '../../../models/gguf/gguf-writer.js';
import {
  decodeQ8_0,
  encodeF32,
  encodeQ8_0,
  float16BitsToFloat32,
  float32ToFloat16Bits,
} from '../../../models/gguf/quantize.js';
import { buildTinyModel, CHATML_TEMPLATE } from '../../../models/gguf/tiny-llama.js';

type Nested = Record<string, unknown>;
const get = (obj: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((o, k) => (o as Nested | undefined)?.[k], obj);

let dir: string;
const corpusPath = new URL('../../../models/corpus.txt', import.meta.url);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tiny-model-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('quantize', () => {
  it('converts fp16 exactly for representable values and rounds others', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 2 ** -24, -0.0078125]) {
      expect(float16BitsToFloat32(float32ToFloat16Bits(v))).toBe(v);
    }
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(Math.abs(float16BitsToFloat32(float32ToFloat16Bits(0.1)) - 0.1)).toBeLessThan(1e-4);
  });

  it('encodes Q8_0 as 34-byte blocks with small error', () => {
    const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3);
    const data = encodeQ8_0(values);
    expect(data.length).toBe(68);
    const back = decodeQ8_0(data);
    values.forEach((v, i) => expect(Math.abs(back[i]! - v)).toBeLessThan(3 / 127));
    expect(() => encodeQ8_0(new Float32Array(33))).toThrow();
  });
});

describe('gguf-writer', () => {
  it('writes a file that node-llama-cpp parses', async () => {
    const gguf = writeGguf({
      metadata: [
        ['general.architecture', { type: 'string', value: 'llama' }],
        ['test.u32', { type: 'uint32', value: 7 }],
        ['test.i32s', { type: 'int32[]', value: [1, -2, 3] }],
        ['test.f32', { type: 'float32', value: 0.5 }],
        ['test.f32s', { type: 'float32[]', value: [0.25, -1] }],
        ['test.bool', { type: 'bool', value: true }],
        ['test.strs', { type: 'string[]', value: ['a', '\u2581b', '<|im_end|>'] }],
      ],
      tensors: [
        { name: 'a', dims: [3], type: GgmlType.F32, data: encodeF32([1, 2, 3]) },
        { name: 'b', dims: [32, 2], type: GgmlType.Q8_0, data: encodeQ8_0(new Float32Array(64).fill(1)) },
      ],
    });
    const path = join(dir, 'writer.gguf');
    await writeFile(path, gguf);
    const info = await readGgufFileInfo(path, { logWarnings: false });
    expect(info.version).toBe(3);
    expect(get(info.metadata, 'general.alignment')).toBe(32);
    expect(get(info.metadata, 'test.u32')).toBe(7);
    expect(get(info.metadata, 'test.i32s')).toEqual([1, -2, 3]);
    expect(get(info.metadata, 'test.f32')).toBe(0.5);
    expect(get(info.metadata, 'test.f32s')).toEqual([0.25, -1]);
    expect(get(info.metadata, 'test.bool')).toBe(true);
    expect(get(info.metadata, 'test.strs')).toEqual(['a', '\u2581b', '<|im_end|>']);
    const tensors = info.tensorInfo ?? [];
    expect(tensors.map((t) => [t.name, t.dimensions, t.ggmlType, Number(t.offset)])).toEqual([
      ['a', [3], 0, 0],
      ['b', [32, 2], 8, 32],
    ]);
    expect(info.infoEndOffset! % 32).toBe(0);
    expect(gguf.length).toBe(info.infoEndOffset! + 32 + 68 + 28); // 12 -> 32, 68 -> 96
  });

  it('rejects Q8_0 tensors whose ne[0] is not a multiple of 32', () => {
    const data = encodeQ8_0(new Float32Array(64));
    const tensors = [{ name: 'x', dims: [16, 4], type: GgmlType.Q8_0, data }];
    expect(() => writeGguf({ metadata: [], tensors })).toThrow(/multiple of 32/);
  });
});

describe('tiny model', () => {
  let corpus: string;
  let modelPath: string;

  beforeAll(async () => {
    corpus = await readFile(corpusPath, 'utf8');
  });

  it('is deterministic and small', () => {
    const a = buildTinyModel({ corpus, seed: 7 });
    const b = buildTinyModel({ corpus, seed: 7 });
    expect(a.length).toBeLessThan(5 * 1024 * 1024);
    expect(createHash('sha256').update(a).digest('hex')).toBe(createHash('sha256').update(b).digest('hex'));
    expect(buildTinyModel({ corpus, seed: 8 }).equals(a)).toBe(false);
  });

  it('generates once, safely under concurrent callers', async () => {
    const target = join(dir, 'models', 'tiny.gguf');
    const paths = await Promise.all([ensureTinyModel(target), ensureTinyModel(target), ensureTinyModel(target)]);
    expect(new Set(paths)).toEqual(new Set([target]));
    expect((await readdir(join(dir, 'models'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const { mtimeMs } = await stat(target);
    await ensureTinyModel(target);
    expect((await stat(target)).mtimeMs).toBe(mtimeMs);
    const forced = await makeTinyModelFile(target, { force: true });
    expect(forced.generated).toBe(true);
    expect(forced.sha256).toMatch(/^[0-9a-f]{64}$/);
    modelPath = target;
  });

  it('has the llama metadata, tokenizer and tensors node-llama-cpp needs', async () => {
    const info = await readGgufFileInfo(modelPath, { logWarnings: false });
    const md = info.metadata;
    expect(get(md, 'general.architecture')).toBe('llama');
    expect(get(md, 'general.alignment')).toBe(32);
    expect(get(md, 'general.quantization_version')).toBe(2);
    for (const key of [
      'general.name',
      'general.file_type',
      'llama.context_length',
      'llama.embedding_length',
      'llama.block_count',
      'llama.feed_forward_length',
      'llama.attention.head_count',
      'llama.attention.head_count_kv',
      'llama.attention.layer_norm_rms_epsilon',
      'llama.rope.dimension_count',
      'llama.vocab_size',
    ]) {
      expect(get(md, key), key).toBeDefined();
    }
    const tokens = get(md, 'tokenizer.ggml.tokens') as string[];
    const types = get(md, 'tokenizer.ggml.token_type') as number[];
    expect(get(md, 'tokenizer.ggml.model')).toBe('llama');
    expect(get(md, 'tokenizer.chat_template')).toBe(CHATML_TEMPLATE);
    expect(get(md, 'llama.vocab_size')).toBe(tokens.length);
    expect((get(md, 'tokenizer.ggml.scores') as number[]).length).toBe(tokens.length);
    expect(tokens.slice(0, 5)).toEqual(['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>']);
    expect(tokens[5 + 0x0a]).toBe('<0x0A>');
    expect(types[5 + 0xff]).toBe(6);
    expect(types[4]).toBe(3);
    expect(tokens).toContain('\u2581router');
    expect(get(md, 'tokenizer.ggml.eos_token_id')).toBe(4);
    const nEmbd = get(md, 'llama.embedding_length') as number;
    const byName = new Map((info.tensorInfo ?? []).map((t) => [t.name, t]));
    expect(byName.get('token_embd.weight')?.dimensions).toEqual([nEmbd, tokens.length]);
    expect(byName.get('output.weight')?.dimensions).toEqual([nEmbd, tokens.length]);
    const blockTensors = ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'];
    for (const name of blockTensors) expect(byName.has(`blk.0.${name}.weight`), name).toBe(true);
    expect(byName.has('output_norm.weight')).toBe(true);
    for (const t of byName.values()) {
      if (t.ggmlType === 8) expect(Number(t.dimensions[0]) % 32, t.name).toBe(0);
    }
  });

  describe('with node-llama-cpp', () => {
    let llama: Llama;
    let model: LlamaModel;
    let context: LlamaContext;

    beforeAll(async () => {
      llama = await getLlama({ gpu: false, build: 'never' });
      model = await llama.loadModel({ modelPath });
      // threads: 1 matters: the default thread count is orders of magnitude slower on small CI boxes.
      context = await model.createContext({ contextSize: 2048, threads: 1, sequences: 2 });
    }, 60_000);

    afterAll(async () => {
      await context?.dispose();
      await model?.dispose();
      await llama?.dispose();
    });

    const ask = async (prompt: string): Promise<{ text: string; session: LlamaChatSession }> => {
      const sequence = context.getSequence();
      const session = new LlamaChatSession({ contextSequence: sequence });
      const text = await session.prompt(prompt, { maxTokens: 40, temperature: 0 });
      return { text, session };
    };

    it('chats with readable, deterministic words via the ChatML wrapper', async () => {
      const first = await ask('Hello, who are you?');
      expect(first.session.chatWrapper).toBeInstanceOf(ChatMLChatWrapper);
      first.session.dispose({ disposeSequence: true });
      const second = await ask('Hello, who are you?');
      second.session.dispose({ disposeSequence: true });

      expect(first.text.trim().length).toBeGreaterThan(0);
      expect(first.text).toMatch(/^[A-Za-z][A-Za-z' ,.!?;:]*$/);
      expect(first.text.split(/\s+/).length).toBeGreaterThanOrEqual(3);
      expect(first.text).toMatch(/[.!?]$/); // stopped at <|im_end|>, not at maxTokens
      expect(second.text).toBe(first.text);
    }, 60_000);

    it('continues plain text completions', async () => {
      const sequence = context.getSequence();
      const completion = new LlamaCompletion({ contextSequence: sequence });
      const text = await completion.generateCompletion('The weather today is', { maxTokens: 40, temperature: 0 });
      sequence.dispose();
      expect(text.trim()).toMatch(/^[A-Za-z' ,.!?;:]+$/);
    }, 60_000);
  });
});
