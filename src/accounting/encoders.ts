/**
 * Tokenizers loaded on first use, one per encoding and only the encodings in use: each
 * table of ranks costs 100+ MB and a noticeable fraction of a second to build.
 */
import type { Tiktoken } from 'js-tiktoken/lite';
import type { EncodingName } from './model-family.js';

const loading = new Map<EncodingName, Promise<Tiktoken>>();

let o200k: Promise<Tiktoken> | undefined;

/**
 * The o200k tokenizer, raw (special tokens throw: callers pass [], [] as TokenCounter does). Its
 * ranks cost ~140 MB and ~0.5 s of CPU, which a router whose targets never declare a context
 * length should not pay; the runtime starts it in the background when some target does.
 */
export function loadO200k(): Promise<Tiktoken> {
  o200k ??= Promise.all([import('js-tiktoken/lite'), import('js-tiktoken/ranks/o200k_base')]).then(([{ Tiktoken }, ranks]) => new Tiktoken(ranks.default));
  return o200k;
}

async function load(name: EncodingName): Promise<Tiktoken> {
  // o200k is shared with the context-fit check (src/routing/fit.ts): one copy of its ranks.
  if (name === 'o200k_base') return plainText(await loadO200k());
  const [{ Tiktoken }, ranks] = await Promise.all([import('js-tiktoken/lite'), import('js-tiktoken/ranks/cl100k_base')]);
  return plainText(new Tiktoken(ranks.default));
}

/**
 * The encoder with special-token text (`<|endoftext|>`) counted as ordinary text, as OpenAI
 * does for message content. js-tiktoken's default is to throw on it, which would let any
 * prompt quoting a special token fail the count.
 */
function plainText(enc: Tiktoken): Tiktoken {
  const plain = Object.create(enc) as Tiktoken;
  plain.encode = (text: string) => enc.encode(text, [], []);
  return plain;
}

/** The tokenizer of `name`, loaded once (a failed load is retried on the next call). */
export function loadEncoder(name: EncodingName): Promise<Tiktoken> {
  let p = loading.get(name);
  if (!p) {
    p = load(name);
    loading.set(name, p);
    p.catch(() => loading.delete(name));
  }
  return p;
}
