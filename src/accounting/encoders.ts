/**
 * Tokenizers loaded on first use, one per encoding and only the encodings in use: each
 * table of ranks costs 100+ MB and a noticeable fraction of a second to build.
 */
import type { Tiktoken } from 'js-tiktoken/lite';
import { loadTokenizer } from '../routing/fit.js';
import type { EncodingName } from './model-family.js';

const loading = new Map<EncodingName, Promise<Tiktoken>>();

async function load(name: EncodingName): Promise<Tiktoken> {
  // o200k is shared with the context-fit check (src/routing/fit.ts): one copy of its ranks.
  if (name === 'o200k_base') return plainText(await loadTokenizer());
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
