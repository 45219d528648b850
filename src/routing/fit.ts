import type { Tiktoken } from 'js-tiktoken/lite';
import { contentText, type ChatRequest } from '../core/chat-request.js';
import type { Capabilities } from '../core/provider.js';
import { TokenCounter } from './token-count.js';

let loading: Promise<Tiktoken> | undefined;

/**
 * Loads the o200k tokenizer on first need: its ranks cost ~140 MB and ~0.5 s of CPU, which a
 * router whose targets never declare a context length should not pay. The runtime starts it in
 * the background when some target does.
 */
export function loadTokenizer(): Promise<Tiktoken> {
  loading ??= Promise.all([import('js-tiktoken/lite'), import('js-tiktoken/ranks/o200k_base')]).then(([{ Tiktoken }, ranks]) => {
    return new Tiktoken(ranks.default);
  });
  return loading;
}

/**
 * Tokens of the prompt, counted with o200k (exact for ordinary text on current OpenAI models,
 * close for others) with bounded work: see token-count.ts. Yields to the event loop.
 */
export async function countPromptTokens(req: ChatRequest, enc: Tiktoken): Promise<number> {
  const counter = new TokenCounter(enc);
  let overhead = 3;
  for (const m of req.messages) {
    overhead += 4;
    await counter.add(contentText(m.content));
    if (m.role === 'assistant' && m.toolCalls) for (const c of m.toolCalls) await counter.add(c.function.name + c.function.arguments);
  }
  if (req.tools) await counter.add(JSON.stringify(req.tools));
  return overhead + counter.count;
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

/** Prompt token counts already made for a request (by dispatch), for later fit checks (shadow traffic). */
const counted = new WeakMap<ChatRequest, number>();

/** Reasons that need no token count. */
function staticUnfit(req: ChatRequest, caps: Capabilities): string | undefined {
  if (req.tools?.length && req.toolChoice !== 'none' && !caps.tools) return 'tools not supported';
  const rf = req.params.responseFormat?.type;
  if (rf === 'json_schema' && !caps.jsonSchema) return 'json_schema not supported';
  if (rf === 'json_object' && !caps.jsonObject) return 'json_object not supported';
  if ((req.params.n ?? 1) > caps.maxChoices) return `n > ${caps.maxChoices} not supported`;
  if (!caps.vision && hasImages(req)) return 'non-text content not supported';
  return undefined;
}

const contextUnfit = (req: ChatRequest, caps: Capabilities, tokens: number): string | undefined =>
  tokens + (req.params.maxTokens ?? 0) > caps.contextLength! ? `prompt does not fit context of ${caps.contextLength} tokens` : undefined;

/**
 * Why a target cannot serve a request, or undefined when it can. `promptTokens` is only called
 * when `needsTokenCount` said so (short prompts never are); its result is remembered for
 * `unfitReasonSync`.
 */
export async function unfitReason(req: ChatRequest, caps: Capabilities, promptTokens: () => Promise<number>): Promise<string | undefined> {
  const why = staticUnfit(req, caps);
  if (why || !needsTokenCount(req, caps)) return why;
  const tokens = await promptTokens();
  counted.set(req, tokens);
  return contextUnfit(req, caps, tokens);
}

/** The same check without counting: a fit that needs a count nobody made reads as unfit. */
export function unfitReasonSync(req: ChatRequest, caps: Capabilities): string | undefined {
  const why = staticUnfit(req, caps);
  if (why || !needsTokenCount(req, caps)) return why;
  const tokens = counted.get(req);
  return tokens === undefined ? 'prompt size unknown' : contextUnfit(req, caps, tokens);
}
