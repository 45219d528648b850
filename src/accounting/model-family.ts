/**
 * Which tokenizer a model name uses. Only name patterns are looked at (no registry of models):
 * new OpenAI models have all used o200k_base since gpt-4o, so an unknown name defaults to it.
 */

/** The BPE encodings the router loads. */
export type EncodingName = 'o200k_base' | 'cl100k_base';

/**
 * The bare model name: lower case, without a routing prefix (`openai/gpt-4o`) or a fine-tune
 * wrapper (`ft:gpt-4o-mini-2024-07-18:org::id` → `gpt-4o-mini-2024-07-18:org::id`), so
 * the family patterns below see the base model's name first.
 */
export function bareModelName(model: string): string {
  let m = model.trim().toLowerCase();
  if (m.startsWith('ft:')) m = m.slice(3);
  const slash = m.lastIndexOf('/');
  return slash >= 0 ? m.slice(slash + 1) : m;
}

/**
 * Families on cl100k_base, as tiktoken's `encoding_for_model` maps them: gpt-4 (`gpt-4`,
 * `gpt-4-0613`, `gpt-4-turbo`, `gpt-4-32k`; not gpt-4o / gpt-4.1 / gpt-4.5), gpt-3.5 (`gpt-35`
 * is Azure's spelling), text-embedding-3-* and text-embedding-ada-002.
 */
const CL100K = [/^gpt-4(?:-|$)/, /^gpt-3\.5/, /^gpt-35/, /^text-embedding-3/, /^text-embedding-ada-002/];

/**
 * The encoding of `model`: cl100k_base for the families above; o200k_base for gpt-4o*,
 * chatgpt-4o*, gpt-4.1*, gpt-4.5*, o1/o3/o4*, gpt-5* and, by documented default, any other
 * name (including local GGUF models, whose own tokenizers differ anyway: a close estimate).
 */
export function encodingForModel(model: string): EncodingName {
  const m = bareModelName(model);
  return CL100K.some((re) => re.test(m)) ? 'cl100k_base' : 'o200k_base';
}
