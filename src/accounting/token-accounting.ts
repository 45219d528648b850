/**
 * Prompt token counts for accounting (budgets, reservations, cost estimates before the
 * upstream reports usage), per model: the model's own encoding, OpenAI's chat framing, tool
 * definitions, tool calls and images. Work is bounded for any input: text goes through the
 * shared TokenCounter (exact for ordinary words within a budget, estimated beyond it,
 * yielding to the event loop), never straight to the quadratic BPE.
 *
 * Chat framing, from OpenAI's cookbook "How to count tokens with tiktoken" (section 6,
 * `num_tokens_from_messages`, which matches the API on gpt-3.5-turbo, gpt-4, gpt-4o and
 * gpt-4o-mini): each message costs 3 tokens plus the tokens of its role, content and, when
 * set, name (+1 for having a name); every reply is primed with 3 more.
 *
 * Not counted: non-image content parts (audio, files: their cost depends on content the
 * router does not decode), a `response_format` JSON schema, and the few framing tokens each
 * assistant tool call may add beyond its name and arguments (undocumented).
 */
import type { Tiktoken } from 'js-tiktoken/lite';
import { contentText, type ChatRequest, type ContentPart } from '../core/chat-request.js';
import { estimateTokens, TokenCounter } from '../routing/token-count.js';
import { loadEncoder } from './encoders.js';
import { dataUrlImageSize, type ImageSize } from './image-size.js';
import { imageTokens, LARGEST_IMAGE } from './image-tokens.js';
import { encodingForModel, type EncodingName } from './model-family.js';
import { addToolDefinitions } from './tool-tokens.js';

/** Framing of each message: `<|start|>{role}<|message|>{content}<|end|>` less the role. */
const TOKENS_PER_MESSAGE = 3;
/** A name adds one token on top of its own (cookbook, current models). */
const TOKENS_PER_NAME = 1;
/** Every reply is primed with `<|start|>assistant<|message|>`. */
const REPLY_PRIMING = 3;

/** Options of `countRequestTokens`. */
export interface CountOptions {
  /**
   * Size assumed for an image whose size cannot be read (an http(s) URL, which is never
   * fetched, or an unparsable data URL). Default `LARGEST_IMAGE`, the most a model bills for
   * one image, so a reservation made from the count is never short.
   */
  unknownImageSize?: ImageSize;
}

const roleCache = new Map<string, number>();

/** Tokens of a role name (a handful of short fixed strings: encoded once per encoding). */
function roleTokens(enc: Tiktoken, encoding: EncodingName, role: string): number {
  const key = `${encoding}\0${role}`;
  let n = roleCache.get(key);
  if (n === undefined) {
    // Roles are validated at the edge; the length check keeps the BPE off anything else.
    n = role.length <= 16 ? enc.encode(role).length : estimateTokens(role);
    if (roleCache.size < 64) roleCache.set(key, n);
  }
  return n;
}

function imagePartsTokens(content: string | ContentPart[] | null, model: string, unknownSize: ImageSize): number {
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content) {
    if (part.type !== 'image_url') continue;
    const img = (part as { image_url?: { url?: unknown; detail?: unknown } }).image_url;
    const url = typeof img?.url === 'string' ? img.url : '';
    const detail = typeof img?.detail === 'string' ? img.detail : undefined;
    n += imageTokens(model, dataUrlImageSize(url) ?? unknownSize, detail);
  }
  return n;
}

/**
 * Prompt tokens `req` costs on `model` (the model as the provider knows it, or an Azure
 * deployment's base model). Exact for ordinary English-like text on OpenAI models; estimated
 * for long unbroken runs, non-ASCII text and anything past the counting budget (see
 * src/routing/token-count.ts), and for the approximations listed in the module comment.
 * Loads the model's encoding on first use. Yields to the event loop on large prompts.
 */
export function countRequestTokens(req: ChatRequest, model: string, options: CountOptions = {}): Promise<number> {
  // One request is counted by several steps (the context fit, the limits' reservation) for
  // the same model: the count is kept with the messages array (a truncation replaces the
  // array, so it gets a fresh count) and the tool list it was made for.
  if (options.unknownImageSize !== undefined) return count(req, model, options);
  let byModel = memo.get(req.messages);
  if (!byModel) memo.set(req.messages, (byModel = new Map()));
  const hit = byModel.get(model);
  if (hit && hit.tools === req.tools) return hit.value;
  const value = count(req, model, options);
  byModel.set(model, { tools: req.tools, value });
  return value;
}

const memo = new WeakMap<ChatRequest['messages'], Map<string, { tools: ChatRequest['tools']; value: Promise<number> }>>();

async function count(req: ChatRequest, model: string, options: CountOptions): Promise<number> {
  const encoding = encodingForModel(model);
  const enc = await loadEncoder(encoding);
  const unknownSize = options.unknownImageSize ?? LARGEST_IMAGE;
  const counter = new TokenCounter(enc);
  let fixed = REPLY_PRIMING;
  for (const m of req.messages) {
    fixed += TOKENS_PER_MESSAGE + roleTokens(enc, encoding, m.role);
    if ('name' in m && m.name) {
      fixed += TOKENS_PER_NAME;
      await counter.add(m.name);
    }
    await counter.add(contentText(m.content));
    fixed += imagePartsTokens(m.content, model, unknownSize);
    if (m.role === 'assistant') {
      if (m.refusal) await counter.add(m.refusal);
      for (const call of m.toolCalls ?? []) {
        await counter.add(call.function.name);
        await counter.add(call.function.arguments);
      }
    }
  }
  fixed += await addToolDefinitions(req.tools, encoding, counter);
  return fixed + counter.count;
}

/** Tokens of plain `text` on `model` (no chat framing), with the same bounded work. */
export async function countTextTokens(text: string, model: string): Promise<number> {
  const counter = new TokenCounter(await loadEncoder(encodingForModel(model)));
  await counter.add(text);
  return counter.count;
}
