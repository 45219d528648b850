/**
 * Makes grammar-constrained JSON end inside the token budget. A JSON grammar keeps the output
 * well-formed token by token but lets strings, arrays and objects grow without bound, and a weak
 * model (the built-in tiny one certainly) may never choose the closing quote by itself: the
 * answer then stops at max_tokens as invalid JSON. Over the last tokens of the budget we bias
 * the tokens that close things (`"`, `}`, `]`, end of generation) up, so that among the
 * continuations the grammar allows the model takes the shortest way out.
 *
 * Only positive biases: node-llama-cpp samples first and applies the grammar only when the
 * sampled token is invalid, and a strongly negative bias on a token the grammar requires (a
 * newline the schema grammar mandates after the closing brace) ended in "Failed to accept token
 * in sampler" thrown from a native callback, an uncaught exception that kills the process.
 */
import { TokenBias, type LlamaModel, type Token } from 'node-llama-cpp';

/**
 * Logit boost for closing tokens; large enough to beat any model preference. Passed as
 * `{ logit }`: a plain number is read as a probability, and any number ≥ 1 becomes +Infinity,
 * which would make every closing token tie (and `]` win inside a string).
 */
const CLOSING_BIAS = 40;
/**
 * A quote gets more: inside a string, `}` and `]` are just characters the grammar accepts, so
 * with equal boosts a string could fill with braces instead of ending. Outside strings a quote
 * is rarely allowed where a brace is, and when it is (a new key) the next quote closes it.
 */
const QUOTE_BIAS = 50;
const CLOSING_CHARS = /^[\s"}\]]+$/;

const closingBiasCache = new WeakMap<LlamaModel, TokenBias>();

/** Tokens whose text only closes JSON structures (plus whitespace), and the end-of-generation tokens. */
function closingBias(model: LlamaModel): TokenBias {
  const cached = closingBiasCache.get(model);
  if (cached) return cached;
  const bias = new TokenBias(model.tokenizer);
  const vocab = (model.fileInfo.metadata.tokenizer?.ggml?.tokens as readonly unknown[] | undefined)?.length ?? 0;
  for (let token = 0; token < vocab; token++) {
    const text = model.detokenize([token as Token]);
    if (text.trim() !== '' && CLOSING_CHARS.test(text)) bias.set(token as Token, { logit: text.trimStart().startsWith('"') ? QUOTE_BIAS : CLOSING_BIAS });
  }
  for (const token of [model.tokens.eos, model.tokens.eot]) if (token != null) bias.set(token, { logit: CLOSING_BIAS });
  closingBiasCache.set(model, bias);
  return bias;
}

type Schema = Record<string, unknown>;

/**
 * Characters of the smallest JSON value a schema admits (`{"name":"","tags":[]}`): what the
 * grammar still forces after the closing starts. Characters bound tokens from above, so this
 * overestimates, which only makes the landing start earlier.
 */
export function minimalJsonLength(schema: Schema | undefined, root: Schema | undefined = schema, depth = 0): number {
  if (!schema || depth > 8) return 4;
  if ('const' in schema) return JSON.stringify(schema.const)?.length ?? 4;
  if (Array.isArray(schema.enum)) return Math.min(...schema.enum.map((v) => JSON.stringify(v)?.length ?? 4), 64);
  const ref = schema.$ref;
  if (typeof ref === 'string' && ref.startsWith('#/')) {
    const target = ref
      .slice(2)
      .split('/')
      .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Schema)[key] : undefined), root);
    return minimalJsonLength(target as Schema | undefined, root, depth + 1);
  }
  const options = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
  if (Array.isArray(options) && options.length > 0) return Math.min(...options.map((o) => minimalJsonLength(o, root, depth + 1)));
  const type = Array.isArray(schema.type) ? (schema.type[0] as unknown) : schema.type;
  switch (type) {
    case 'string':
      return 2 + (typeof schema.minLength === 'number' ? schema.minLength : 0);
    case 'number':
    case 'integer':
      return 1;
    case 'boolean':
      return 5;
    case 'null':
      return 4;
    case 'array': {
      const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const prefix = Array.isArray(schema.prefixItems) ? (schema.prefixItems as Schema[]) : [];
      const items = [...prefix, ...Array.from({ length: Math.max(0, min - prefix.length) }, () => schema.items as Schema)];
      return 2 + items.reduce((n, item) => n + 1 + minimalJsonLength(item, root, depth + 1), 0);
    }
    default: {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      // node-llama-cpp's schema grammar emits every listed property, so all count.
      return 2 + Object.entries(properties).reduce((n, [key, value]) => n + key.length + 4 + minimalJsonLength(value, root, depth + 1), 0);
    }
  }
}

/** Tokens before the end of the budget at which closing starts: room for a few nesting levels plus what the schema still forces. */
export function landingTokens(maxTokens: number, schema?: Schema): number {
  return Math.max(4, Math.min(64, Math.floor(maxTokens / 4))) + (schema ? minimalJsonLength(schema) : 0);
}

/**
 * A tokenBias callback for LlamaChat: none until `generated()` reaches the landing zone of
 * `maxTokens`, then the closing bias. node-llama-cpp calls it before sampling each token.
 */
export function jsonLandingBias(model: LlamaModel, maxTokens: number, generated: () => number, schema?: Schema): () => TokenBias {
  const none = new TokenBias(model.tokenizer);
  const start = maxTokens - landingTokens(maxTokens, schema);
  return () => (generated() >= start ? closingBias(model) : none);
}
