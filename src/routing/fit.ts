import { getEncoding, type Tiktoken } from 'js-tiktoken';
import { contentText, type ChatRequest } from '../core/chat-request.js';
import type { Capabilities } from '../core/provider.js';

let encoder: Tiktoken | undefined;

/** Tokens of the prompt, counted with o200k (exact for current OpenAI models, close for others). */
export function countPromptTokens(req: ChatRequest): number {
  encoder ??= getEncoding('o200k_base');
  let n = 3;
  for (const m of req.messages) {
    n += 4 + encoder.encode(contentText(m.content)).length;
    if (m.role === 'assistant' && m.toolCalls) for (const c of m.toolCalls) n += encoder.encode(c.function.name + c.function.arguments).length;
  }
  if (req.tools) n += encoder.encode(JSON.stringify(req.tools)).length;
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

/**
 * Why a target cannot serve a request, or undefined when it can. Token counting is skipped
 * when the character count alone proves the prompt fits (a token is at least one character).
 */
export function unfitReason(req: ChatRequest, caps: Capabilities, promptTokens: () => number): string | undefined {
  if (req.tools?.length && req.toolChoice !== 'none' && !caps.tools) return 'tools not supported';
  const rf = req.params.responseFormat?.type;
  if (rf === 'json_schema' && !caps.jsonSchema) return 'json_schema not supported';
  if (rf === 'json_object' && !caps.jsonObject) return 'json_object not supported';
  if ((req.params.n ?? 1) > caps.maxChoices) return `n > ${caps.maxChoices} not supported`;
  if (!caps.vision && hasImages(req)) return 'non-text content not supported';
  if (caps.contextLength !== undefined && !caps.compactsHistory) {
    const reserve = req.params.maxTokens ?? 0;
    if (promptChars(req) + reserve > caps.contextLength && promptTokens() + reserve > caps.contextLength) {
      return `prompt does not fit context of ${caps.contextLength} tokens`;
    }
  }
  return undefined;
}
