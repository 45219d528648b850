import type { Tiktoken } from 'js-tiktoken/lite';
import { contentText, type ChatRequest } from '../core/chat-request.js';
import type { Capabilities } from '../core/provider.js';

let encoder: Tiktoken | undefined;
let loading: Promise<Tiktoken> | undefined;

/**
 * Loads the o200k tokenizer on first need: its ranks cost ~140 MB and ~0.5 s of CPU, which a
 * router whose targets never declare a context length should not pay. The runtime starts it in
 * the background when some target does.
 */
export function loadTokenizer(): Promise<Tiktoken> {
  loading ??= Promise.all([import('js-tiktoken/lite'), import('js-tiktoken/ranks/o200k_base')]).then(([{ Tiktoken }, ranks]) => {
    encoder = new Tiktoken(ranks.default);
    return encoder;
  });
  return loading;
}

/** Tokens of the prompt, counted with o200k (exact for current OpenAI models, close for others). */
export function countPromptTokens(req: ChatRequest, enc: Tiktoken): number {
  let n = 3;
  for (const m of req.messages) {
    n += 4 + enc.encode(contentText(m.content)).length;
    if (m.role === 'assistant' && m.toolCalls) for (const c of m.toolCalls) n += enc.encode(c.function.name + c.function.arguments).length;
  }
  if (req.tools) n += enc.encode(JSON.stringify(req.tools)).length;
  return n;
}

function promptChars(req: ChatRequest): number {
  let n = 0;
  for (const m of req.messages) n += contentText(m.content).length + 8;
  if (req.tools) n += JSON.stringify(req.tools).length;
  return n;
}

function hasImages(req: ChatRequest): boolean {
  return req.messages.some((m) => Array.isArray(m.content) && m.content.some((p) => p.type !== 'text'));
}

/** Whether the context check of `caps` needs a real token count (characters alone cannot prove the prompt fits). */
export function needsTokenCount(req: ChatRequest, caps: Capabilities): boolean {
  return caps.contextLength !== undefined && !caps.compactsHistory && promptChars(req) + (req.params.maxTokens ?? 0) > caps.contextLength;
}

/**
 * Why a target cannot serve a request, or undefined when it can. `promptTokens` is only called
 * when `needsTokenCount` said so (a token is at least one character, so short prompts never are).
 */
export function unfitReason(req: ChatRequest, caps: Capabilities, promptTokens: () => number): string | undefined {
  if (req.tools?.length && req.toolChoice !== 'none' && !caps.tools) return 'tools not supported';
  const rf = req.params.responseFormat?.type;
  if (rf === 'json_schema' && !caps.jsonSchema) return 'json_schema not supported';
  if (rf === 'json_object' && !caps.jsonObject) return 'json_object not supported';
  if ((req.params.n ?? 1) > caps.maxChoices) return `n > ${caps.maxChoices} not supported`;
  if (!caps.vision && hasImages(req)) return 'non-text content not supported';
  if (needsTokenCount(req, caps) && promptTokens() + (req.params.maxTokens ?? 0) > caps.contextLength!) {
    return `prompt does not fit context of ${caps.contextLength} tokens`;
  }
  return undefined;
}

/** The encoder when loaded: lets callers count synchronously once `loadTokenizer` resolved. */
export function loadedTokenizer(): Tiktoken | undefined {
  return encoder;
}
