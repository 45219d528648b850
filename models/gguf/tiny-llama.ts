/**
 * Builds a tiny llama-architecture GGUF whose weights encode a word-bigram
 * language model fitted on a text corpus, so node-llama-cpp can answer offline
 * with readable (if simple) words.
 *
 * How the weights encode the bigram:
 * - every token maps to a "state" (its word, punctuation mark, START or MID);
 *   token_embd rows are one-hot on the state's dimension;
 * - attn_output and ffn_down are all zeros, so the residual stream that reaches
 *   output_norm is exactly the embedding of the current token;
 * - output_norm weights cancel the RMS-norm gain, so the normed vector is the
 *   one-hot state itself and output.weight[t][state] is the logit of token t:
 *   ln P(t | state) from the corpus, with a small boost on one successor per
 *   state so that greedy (temperature 0) decoding walks a path that always ends
 *   in <|im_end|> (the first paragraph of the corpus, when its words are distinct).
 */
import { GgmlType, writeGguf, type GgufMetadataValue, type GgufTensor } from './gguf-writer.js';
import { encodeF32, encodeQ8_0 } from './quantize.js';

export interface TinyModelOptions {
  corpus: string;
  /** Seed for the (otherwise irrelevant) random attention/FFN weights. Default 42. */
  seed?: number;
  /** Keep at most this many distinct words; sentences with other words are dropped. Default 400. */
  maxWords?: number;
  /** Written as llama.context_length. Default 4096. */
  contextLength?: number;
  name?: string;
}

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const SP = '\u2581'; // SentencePiece word-start marker
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;
const ID = { unk: 0, bos: 1, eos: 2, imStart: 3, imEnd: 4 } as const;
const START = 0; // state after "\n", control tokens and the line-feed byte
const MID = 1; // state after word fragments and other byte tokens
const FLOOR_LOGIT = -20;
const GREEDY_MARGIN = 0.5; // > 2x the Q8_0 rounding error of output.weight (about 0.08 nats)
const END_PROBABILITY = 0.25; // extra P(<|im_end|>) after ., ! and ?
const RMS_EPS = 1e-5;
const HEAD_DIM = 64;
const N_FF = 64;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const isPunct = (w: string): boolean => /^[.,!?;:]$/.test(w);
const isSentenceEnd = (w: string): boolean => /^[.!?]$/.test(w);

/** Splits the corpus into paragraphs of sentences of words/punctuation, keeping the top `maxWords` words. */
function parseCorpus(corpus: string, maxWords: number): string[][][] {
  const paragraphs = corpus
    .replace(/\r\n?/g, '\n')
    .replace(/[\u2018\u2019]/g, "'")
    .split(/\n\s*\n/)
    .map((p) => p.match(/[A-Za-z0-9']+|[.,!?;:]/g) ?? [])
    .filter((p) => p.length > 0)
    .map((words) => {
      const sentences: string[][] = [[]];
      for (const w of words) {
        sentences[sentences.length - 1]!.push(w);
        if (isSentenceEnd(w)) sentences.push([]);
      }
      const last = sentences[sentences.length - 1]!;
      if (last.length === 0) sentences.pop();
      else last.push('.');
      return sentences;
    });
  const freq = new Map<string, number>();
  for (const s of paragraphs.flat(2)) if (!isPunct(s)) freq.set(s, (freq.get(s) ?? 0) + 1);
  const kept = new Set([...freq.entries()].sort((a, b) => b[1] - a[1]).slice(0, maxWords).map(([w]) => w));
  return paragraphs
    .map((p) => p.filter((s) => s.every((w) => isPunct(w) || kept.has(w))))
    .filter((p) => p.length > 0);
}

/** Token texts/types/scores; `stateOf[id]` is the embedding dimension (bigram state) of each token. */
type Vocab = {
  tokens: string[]; types: number[]; scores: number[]; idOf: Map<string, number>; stateOf: number[]; nStates: number;
};

function buildVocab(paragraphs: string[][][]): Vocab {
  const tokens: string[] = [];
  const types: number[] = [];
  const idOf = new Map<string, number>();
  const stateOf: number[] = [];
  const stateIds = new Map<string, number>();
  const stateFor = (w: string): number => stateIds.get(w) ?? (stateIds.set(w, stateIds.size + 2), stateIds.size + 1);
  const add = (text: string, type: number, state: number): void => {
    if (idOf.has(text)) return;
    idOf.set(text, tokens.length);
    tokens.push(text);
    types.push(type);
    stateOf.push(state);
  };
  add('<unk>', TOKEN_TYPE.unknown, START); // ids must match ID above
  for (const t of ['<s>', '</s>', '<|im_start|>', '<|im_end|>']) add(t, TOKEN_TYPE.control, START);
  for (let b = 0; b < 256; b++) {
    const hex = b.toString(16).toUpperCase().padStart(2, '0');
    add(`<0x${hex}>`, TOKEN_TYPE.byte, b === 0x0a ? START : MID);
  }
  add('\n', TOKEN_TYPE.normal, START);
  add(SP, TOKEN_TYPE.normal, MID);
  const sentences = paragraphs.flat();
  for (const w of sentences.flat()) add(isPunct(w) ? w : SP + w, TOKEN_TYPE.normal, stateFor(w));
  for (const s of sentences) add(s[0]!, TOKEN_TYPE.normal, stateFor(s[0]!)); // sentence starters without '▁'
  // Every prefix of every word piece, so SentencePiece merges can build whole words from characters.
  const pieces = tokens.filter((_, id) => types[id] === TOKEN_TYPE.normal);
  for (const piece of pieces) {
    const chars = [...piece];
    for (let n = 1; n < chars.length; n++) add(chars.slice(0, n).join(''), TOKEN_TYPE.normal, MID);
    for (const c of chars) add(c, TOKEN_TYPE.normal, MID);
  }
  const scores = tokens.map((t, id) => (types[id] === TOKEN_TYPE.normal ? [...t].length : 0));
  return { tokens, types, scores, idOf, stateOf, nStates: stateIds.size + 2 };
}

/** logits[state][token] = ln P(token | state), with a greedy path that always terminates. */
function buildLogits(paragraphs: string[][][], v: Vocab): Float32Array[] {
  const nVocab = v.tokens.length;
  const counts = Array.from({ length: v.nStates }, () => new Map<number, number>());
  const inc = (m: Map<number, number>, k: number): void => void m.set(k, (m.get(k) ?? 0) + 1);
  const bump = (state: number, token: number): void => inc(counts[state]!, token);
  const wordToken = (w: string): number => v.idOf.get(isPunct(w) ? w : SP + w)!;
  const unigram = new Map<number, number>();
  for (const p of paragraphs) {
    const flat = p.flat();
    for (const s of p) bump(START, v.idOf.get(s[0]!)!);
    for (let i = 0; i < flat.length; i++) {
      const state = v.stateOf[wordToken(flat[i]!)]!;
      const next = i + 1 < flat.length ? wordToken(flat[i + 1]!) : ID.imEnd;
      bump(state, next);
      if (next !== ID.imEnd) inc(unigram, next);
    }
  }
  counts[MID] = new Map(unigram);

  const uniTotal = [...unigram.values()].reduce((a, b) => a + b, 0);
  const probs = counts.map((row, state) => {
    const p = new Map<number, number>();
    const total = [...row.values()].reduce((a, b) => a + b, 0);
    const alpha = state === START ? 0 : 0.2; // smoothing mass spread over the unigram
    for (const [t, c] of row) p.set(t, c / (total + alpha));
    if (alpha > 0) for (const [t, c] of unigram) p.set(t, (p.get(t) ?? 0) + (alpha * c) / uniTotal / (total + alpha));
    const punct = v.tokens.find((_, id) => v.stateOf[id] === state);
    if (punct !== undefined && isSentenceEnd(punct)) {
      for (const [t, q] of p) p.set(t, q * (1 - END_PROBABILITY));
      p.set(ID.imEnd, (p.get(ID.imEnd) ?? 0) + END_PROBABILITY);
    }
    return p;
  });

  // Distance (in tokens) from each state to <|im_end|>, following observed bigrams backwards.
  const END = v.nStates;
  const dist = new Array<number>(v.nStates + 1).fill(Infinity);
  dist[END] = 0;
  const target = (t: number): number => (t === ID.imEnd ? END : v.stateOf[t]!);
  for (let changed = true; changed; ) {
    changed = false;
    counts.forEach((row, state) => {
      for (const t of row.keys()) {
        if (dist[target(t)]! + 1 < dist[state]!) (dist[state] = dist[target(t)]! + 1), (changed = true);
      }
    });
  }

  // Greedy successor per state: the canonical first paragraph when its words are distinct; elsewhere the
  // likeliest token, except that cycles are broken by switching one state to a token closer to the end.
  const greedy = new Map<number, number>();
  const fixed = new Set<number>();
  const first = paragraphs[0]?.flat() ?? [];
  const firstStates = first.map((w) => v.stateOf[wordToken(w)]!);
  if (first.length > 0 && new Set(firstStates).size === firstStates.length) {
    greedy.set(START, v.idOf.get(first[0]!)!);
    first.forEach((_, i) => greedy.set(firstStates[i]!, i + 1 < first.length ? wordToken(first[i + 1]!) : ID.imEnd));
  }
  for (const state of greedy.keys()) fixed.add(state);
  const bestBy = (state: number, ok: (t: number) => boolean): number => {
    let best = -1;
    for (const t of counts[state]!.keys()) {
      if (ok(t) && (best < 0 || probs[state]!.get(t)! > probs[state]!.get(best)!)) best = t;
    }
    return best;
  };
  const closer = (state: number) => (t: number) => dist[target(t)]! < dist[state]!;
  counts.forEach((_, state) => {
    if (!greedy.has(state)) greedy.set(state, bestBy(state, (t) => dist[target(t)]! < Infinity));
  });
  for (;;) {
    const done = new Set<number>([END]);
    let cycle: number[] | undefined;
    for (let s0 = 0; s0 < v.nStates && !cycle; s0++) {
      const path: number[] = [];
      let s = s0;
      while (!done.has(s) && greedy.get(s)! >= 0 && !path.includes(s)) {
        path.push(s);
        s = target(greedy.get(s)!);
      }
      if (path.includes(s)) cycle = path.slice(path.indexOf(s));
      for (const p of path) done.add(p);
    }
    const candidates = cycle?.filter((s) => !fixed.has(s)) ?? [];
    if (candidates.length === 0) break; // no cycle left (fixed states always move closer to the end)
    const score = (s: number): number => probs[s]!.get(bestBy(s, closer(s))) ?? -1;
    const victim = candidates.reduce((a, b) => (score(b) > score(a) ? b : a), candidates[0]!);
    greedy.set(victim, bestBy(victim, closer(victim)));
    fixed.add(victim);
  }

  return probs.map((p, state) => {
    const row = new Float32Array(nVocab).fill(FLOOR_LOGIT);
    let max = FLOOR_LOGIT;
    for (const [t, q] of p) {
      row[t] = Math.max(FLOOR_LOGIT, Math.log(q));
      max = Math.max(max, row[t]!);
    }
    const g = greedy.get(state);
    if (g !== undefined && g >= 0) row[g] = Math.max(row[g]!, max) + GREEDY_MARGIN;
    return row;
  });
}

export type TinyModelSummary = { nVocab: number; nStates: number; nEmbd: number };

/** Builds the GGUF file for the tiny bigram model. Deterministic for a given corpus and seed. */
export function buildTinyModel(opts: TinyModelOptions): Buffer {
  return buildTinyModelWithSummary(opts).gguf;
}

export function buildTinyModelWithSummary(opts: TinyModelOptions): { gguf: Buffer; summary: TinyModelSummary } {
  const paragraphs = parseCorpus(opts.corpus, opts.maxWords ?? 400);
  if (paragraphs.length === 0) throw new Error('corpus has no usable text');
  const vocab = buildVocab(paragraphs);
  const logits = buildLogits(paragraphs, vocab);
  const nVocab = vocab.tokens.length;
  const nEmbd = Math.max(HEAD_DIM, Math.ceil(vocab.nStates / HEAD_DIM) * HEAD_DIM);
  const nHead = nEmbd / HEAD_DIM;
  const nHeadKv = 1;
  const rand = mulberry32(opts.seed ?? 42);

  const matrix = (ne0: number, ne1: number, fill: (row: number, col: number) => number): Float32Array => {
    const out = new Float32Array(ne0 * ne1);
    for (let r = 0; r < ne1; r++) for (let c = 0; c < ne0; c++) out[r * ne0 + c] = fill(r, c);
    return out;
  };
  const random = (ne0: number, ne1: number): Float32Array => matrix(ne0, ne1, () => (rand() * 2 - 1) * 0.02);
  const q8 = (name: string, ne0: number, ne1: number, data: Float32Array): GgufTensor =>
    ({ name, dims: [ne0, ne1], type: GgmlType.Q8_0, data: encodeQ8_0(data) });
  const f32 = (name: string, values: Float32Array): GgufTensor =>
    ({ name, dims: [values.length], type: GgmlType.F32, data: encodeF32(values) });

  const kvDim = nHeadKv * HEAD_DIM;
  const tensors: GgufTensor[] = [
    q8('token_embd.weight', nEmbd, nVocab, matrix(nEmbd, nVocab, (t, d) => (vocab.stateOf[t] === d ? 1 : 0))),
    f32('blk.0.attn_norm.weight', new Float32Array(nEmbd).fill(1)),
    q8('blk.0.attn_q.weight', nEmbd, nEmbd, random(nEmbd, nEmbd)),
    q8('blk.0.attn_k.weight', nEmbd, kvDim, random(nEmbd, kvDim)),
    q8('blk.0.attn_v.weight', nEmbd, kvDim, random(nEmbd, kvDim)),
    q8('blk.0.attn_output.weight', nEmbd, nEmbd, new Float32Array(nEmbd * nEmbd)),
    f32('blk.0.ffn_norm.weight', new Float32Array(nEmbd).fill(1)),
    q8('blk.0.ffn_gate.weight', nEmbd, N_FF, random(nEmbd, N_FF)),
    q8('blk.0.ffn_up.weight', nEmbd, N_FF, random(nEmbd, N_FF)),
    q8('blk.0.ffn_down.weight', N_FF, nEmbd, new Float32Array(N_FF * nEmbd)),
    // RMS of a unit one-hot is sqrt(1/n + eps); scaling by it makes the normed vector the one-hot itself.
    f32('output_norm.weight', new Float32Array(nEmbd).fill(Math.sqrt(1 / nEmbd + RMS_EPS))),
    q8('output.weight', nEmbd, nVocab, matrix(nEmbd, nVocab, (t, d) => (d < vocab.nStates ? logits[d]![t]! : 0))),
  ];

  const u32 = (value: number): GgufMetadataValue => ({ type: 'uint32', value });
  const metadata: Array<[string, GgufMetadataValue]> = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: opts.name ?? 'tiny-router-bigram' }],
    ['general.description', { type: 'string', value: 'Word-bigram model encoded in llama weights (generated)' }],
    ['general.file_type', u32(7)], // LLAMA_FTYPE_MOSTLY_Q8_0
    ['general.quantization_version', u32(2)],
    ['general.alignment', u32(32)],
    ['llama.context_length', u32(opts.contextLength ?? 4096)],
    ['llama.embedding_length', u32(nEmbd)],
    ['llama.block_count', u32(1)],
    // Mean pooling for embedding contexts (chat ignores it): the residual stream is the one-hot
    // state of each token, so a text's embedding is its bag of states, and texts sharing words
    // are close. Without it llama.cpp embeds only the last token.
    ['llama.pooling_type', u32(1)],
    ['llama.feed_forward_length', u32(N_FF)],
    ['llama.attention.head_count', u32(nHead)],
    ['llama.attention.head_count_kv', u32(nHeadKv)],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'float32', value: RMS_EPS }],
    ['llama.rope.dimension_count', u32(HEAD_DIM)],
    ['llama.rope.freq_base', { type: 'float32', value: 10000 }],
    ['llama.vocab_size', u32(nVocab)],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'float32[]', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'int32[]', value: vocab.types }],
    ['tokenizer.ggml.bos_token_id', u32(ID.bos)],
    ['tokenizer.ggml.eos_token_id', u32(ID.imEnd)],
    ['tokenizer.ggml.eot_token_id', u32(ID.imEnd)],
    ['tokenizer.ggml.unknown_token_id', u32(ID.unk)],
    ['tokenizer.ggml.padding_token_id', u32(ID.eos)],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
    ['tokenizer.ggml.add_space_prefix', { type: 'bool', value: true }],
    ['tokenizer.chat_template', { type: 'string', value: CHATML_TEMPLATE }],
  ];
  return { gguf: writeGguf({ metadata, tensors, alignment: 32 }), summary: { nVocab, nStates: vocab.nStates, nEmbd } };
}
