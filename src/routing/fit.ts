import { contentText, type ChatRequest } from '../core/chat-request.js';
import type { Capabilities } from '../core/provider.js';
import { countRequestTokens } from '../accounting/token-accounting.js';
import { bareModelName, encodingForModel } from '../accounting/model-family.js';

/** The o200k tokenizer (loaded once, on first need): see src/accounting/encoders.ts. */
export { loadO200k as loadTokenizer } from '../accounting/encoders.js';

/**
 * Upper bound on the prompt's tokens from its characters alone: every token of the bounded
 * counter is at least one character (exact BPE tokens are ≥ 1 byte of ASCII; estimates are ≤ 1
 * per character), and each message's framing (3 + role + name mark) fits in 8.
 */
function promptChars(req: ChatRequest): number {
  let n = 3;
  for (const m of req.messages) {
    n += contentText(m.content).length + 8;
    if ('name' in m && m.name) n += m.name.length;
    if (m.role === 'assistant') {
      n += m.refusal?.length ?? 0;
      for (const c of m.toolCalls ?? []) n += c.function.name.length + c.function.arguments.length;
    }
  }
  if (req.tools) n += JSON.stringify(req.tools).length;
  return n;
}

function hasNonText(req: ChatRequest): boolean {
  return req.messages.some((m) => Array.isArray(m.content) && m.content.some((p) => p.type !== 'text'));
}

function hasImageUrls(req: ChatRequest): boolean {
  return req.messages.some((m) => Array.isArray(m.content) && m.content.some((p) => p.type === 'image_url'));
}

/**
 * Whether the context check of `caps` needs a real token count: characters alone cannot prove
 * the prompt fits, or it has images (billed in tokens the characters do not show).
 */
export function needsTokenCount(req: ChatRequest, caps: Capabilities): boolean {
  if (caps.contextLength === undefined || caps.compactsHistory) return false;
  return hasImageUrls(req) || promptChars(req) + (req.params.maxTokens ?? 0) > caps.contextLength;
}

/**
 * What a prompt count of `req` on `model` is shared under: its encoding (gpt-4o and o3 count
 * the same text alike), or the model itself when the request has images (their price in
 * tokens differs between models of one encoding).
 */
export function countKey(req: ChatRequest, model: string): string {
  return hasImageUrls(req) ? `model:${bareModelName(model)}` : encodingForModel(model);
}

/** Options of `promptCounter`. */
export interface CounterOptions {
  /** A count already made of the request's messages, on `known.model`. */
  known?: { model: string; tokens: number };
  /** The counter (tests); default `countRequestTokens`. */
  count?: (req: ChatRequest, model: string) => Promise<number>;
}

/** Prompt token counts already made for a request (by dispatch), per count key, for later fit checks (shadow traffic). */
const counted = new WeakMap<ChatRequest, Map<string, number>>();

/**
 * Prompt token counts of one request, made at most once per encoding (see `countKey`) with
 * the model's own tokenizer and bounded work (src/accounting/token-accounting.ts), and
 * remembered for `unfitReasonSync`. Make a new one when the request's messages change.
 */
export function promptCounter(req: ChatRequest, opts: CounterOptions = {}): (model: string) => Promise<number> {
  const { known, count = countRequestTokens } = opts;
  // Made on the first count (most requests are short enough never to be counted for fit); a new
  // counter replaces what an earlier one of the same request remembered (its messages changed).
  let pending: Map<string, Promise<number>> | undefined;
  let done: Map<string, number> | undefined;
  counted.delete(req);
  const remember = (key: string, p: Promise<number>) => {
    if (!done) counted.set(req, (done = new Map()));
    (pending ??= new Map()).set(key, p);
  };
  if (known) {
    const key = countKey(req, known.model);
    remember(key, Promise.resolve(known.tokens));
    done!.set(key, known.tokens);
  }
  return (model) => {
    const key = countKey(req, model);
    let p = pending?.get(key);
    if (!p) {
      p = count(req, model).then((n) => {
        done!.set(key, n);
        return n;
      });
      remember(key, p);
    }
    return p;
  };
}

/** Reasons that need no token count: the target cannot serve this request at any length. */
export function staticUnfit(req: ChatRequest, caps: Capabilities): string | undefined {
  if (req.tools?.length && req.toolChoice !== 'none' && !caps.tools) return 'tools not supported';
  const rf = req.params.responseFormat?.type;
  if (rf === 'json_schema' && !caps.jsonSchema) return 'json_schema not supported';
  if (rf === 'json_object' && !caps.jsonObject) return 'json_object not supported';
  if ((req.params.n ?? 1) > caps.maxChoices) return `n > ${caps.maxChoices} not supported`;
  if (!caps.vision && hasNonText(req)) return 'non-text content not supported';
  return undefined;
}

/** `staticUnfit` as an Unfit: the whole answer of `unfitFor` for a target that needs no token count (no promise). */
export function staticUnfitOf(req: ChatRequest, caps: Capabilities): Unfit | undefined {
  const why = staticUnfit(req, caps);
  return why ? { kind: 'static', why } : undefined;
}

/** Whether a prompt of `tokens` plus the request's max_tokens fits the context of `caps`. */
export const fitsContext = (req: ChatRequest, caps: Capabilities, tokens: number): boolean =>
  caps.contextLength === undefined || caps.compactsHistory === true || tokens + (req.params.maxTokens ?? 0) <= caps.contextLength;

const contextUnfit = (req: ChatRequest, caps: Capabilities, tokens: number): string | undefined =>
  fitsContext(req, caps, tokens) ? undefined : `prompt does not fit context of ${caps.contextLength} tokens`;

/** Why a target cannot serve a request: `static` at any length, `context` only for its length. */
export type Unfit = { kind: 'static' | 'context'; why: string };

/**
 * Why the target `model` with `caps` cannot serve a request, or undefined when it can.
 * `promptTokens` (a `promptCounter`) is only called when `needsTokenCount` said so (short
 * prompts never are).
 */
export async function unfitFor(req: ChatRequest, caps: Capabilities, model: string, promptTokens: (model: string) => Promise<number>): Promise<Unfit | undefined> {
  const unfit = staticUnfitOf(req, caps);
  if (unfit || !needsTokenCount(req, caps)) return unfit;
  const ctx = contextUnfit(req, caps, await promptTokens(model));
  return ctx ? { kind: 'context', why: ctx } : undefined;
}

/**
 * The same check without counting, from the counts dispatch made for `req` (in the target's
 * encoding): a fit that needs a count nobody made reads as unfit.
 */
export function unfitReasonSync(req: ChatRequest, caps: Capabilities, model: string): string | undefined {
  const why = staticUnfit(req, caps);
  if (why || !needsTokenCount(req, caps)) return why;
  const tokens = counted.get(req)?.get(countKey(req, model));
  return tokens === undefined ? 'prompt size unknown' : contextUnfit(req, caps, tokens);
}
