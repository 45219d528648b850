/**
 * Maps a ChatRequest to what a local model worker runs: turns for the chat template and
 * sampling parameters. Adapts the prompt for a small local model (system prompt override or
 * prefix, max_tokens cap) and renders what a chat template has no slot for (tool calls and
 * tool results) as plain text.
 */
import { contentText, type ChatMessage, type ChatRequest } from '../../src/core/chat-request.js';
import type { LlamaProviderConfig } from './options.js';
import { ProviderError } from '../../src/core/provider-error.js';
import type { GenerateParams, WorkerTurn } from './protocol.js';
import type { RegistryEntry } from './registry.js';

/**
 * Sampling defaults when the request names none: llama.cpp server's (temperature 0.8, top-k 40,
 * top-p 0.95, min-p 0.05). OpenAI's temperature 1 with no truncation makes small quantized
 * models ramble; an explicit temperature or top_p from the app always wins.
 */
export const DEFAULT_SAMPLING = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 } as const;

export interface PromptAdaptation {
  systemPrompt?: string;
  systemPromptPrefix?: string;
}

function toTurn(message: ChatMessage): WorkerTurn {
  switch (message.role) {
    case 'system':
    case 'developer':
      return { role: 'system', text: contentText(message.content) };
    case 'user':
      return { role: 'user', text: contentText(message.content) };
    case 'assistant': {
      const calls = (message.toolCalls ?? []).map((call) => `[called ${call.function.name}(${call.function.arguments}) as ${call.id}]`);
      const text = [contentText(message.content), ...calls].filter((part) => part !== '').join('\n');
      return { role: 'assistant', text };
    }
    case 'tool':
      return { role: 'user', text: `[result of tool call ${message.toolCallId}]\n${contentText(message.content)}` };
    case 'function':
      return { role: 'user', text: `[result of function ${message.name}]\n${message.content ?? ''}` };
  }
}

/** Turns with the operator's system prompt override or prefix applied. */
export function adaptTurns(messages: readonly ChatMessage[], adaptation: PromptAdaptation): WorkerTurn[] {
  let turns = messages.map(toTurn);
  if (adaptation.systemPrompt !== undefined) {
    turns = [{ role: 'system', text: adaptation.systemPrompt }, ...turns.filter((turn) => turn.role !== 'system')];
  }
  const prefix = adaptation.systemPromptPrefix;
  if (prefix !== undefined && prefix !== '') {
    const first = turns.findIndex((turn) => turn.role === 'system');
    const target = turns[first];
    if (target) turns[first] = { role: 'system', text: target.text === '' ? prefix : `${prefix}\n\n${target.text}` };
    else turns.unshift({ role: 'system', text: prefix });
  }
  return turns;
}

function invalid(provider: string, message: string, param?: string): ProviderError {
  return new ProviderError({ kind: 'invalid_request', provider, message, param });
}

/** Builds the worker request; throws ProviderError(invalid_request) for what the local model cannot do. */
export function buildGenerateRequest(
  providerId: string,
  req: ChatRequest,
  config: Pick<LlamaProviderConfig, 'systemPrompt' | 'systemPromptPrefix' | 'maxTokensCap'>,
  entry: RegistryEntry,
): { turns: WorkerTurn[]; params: GenerateParams } {
  const p = req.params;
  if (p.n !== undefined && p.n > 1) throw invalid(providerId, `local model ${entry.id} generates one choice (n=${p.n} requested)`, 'n');
  const wantsTools = (req.tools?.length ?? 0) > 0 && req.toolChoice !== 'none';
  if (wantsTools && !entry.tools) throw invalid(providerId, `local model ${entry.id} does not support tools`, 'tools');
  const turns = adaptTurns(req.messages, config);
  if (!turns.some((turn) => turn.role !== 'system')) throw invalid(providerId, 'messages must contain at least one user message', 'messages');

  const caps = [p.maxTokens, config.maxTokensCap].filter((n): n is number => n !== undefined);
  const maxTokens = caps.length > 0 ? Math.min(...caps) : undefined;
  const explicitSampling = p.temperature !== undefined || p.topP !== undefined;
  const format = p.responseFormat;
  const params: GenerateParams = {
    maxTokens,
    temperature: p.temperature ?? DEFAULT_SAMPLING.temperature,
    // With an explicit temperature/top_p follow OpenAI (no top-k/min-p truncation); else llama.cpp's defaults.
    topP: p.topP ?? (explicitSampling ? 1 : DEFAULT_SAMPLING.topP),
    topK: explicitSampling ? 0 : DEFAULT_SAMPLING.topK,
    minP: explicitSampling ? 0 : DEFAULT_SAMPLING.minP,
    seed: p.seed,
    stop: p.stop?.filter((s) => s !== ''),
    presencePenalty: p.presencePenalty || undefined,
    frequencyPenalty: p.frequencyPenalty || undefined,
    format:
      format?.type === 'json_object'
        ? { type: 'json_object' }
        : format?.type === 'json_schema'
          ? format.jsonSchema.schema
            ? { type: 'json_schema', schema: format.jsonSchema.schema }
            : { type: 'json_object' }
          : undefined,
    tools: wantsTools
      ? (req.tools ?? []).map((tool) => ({ name: tool.function.name, description: tool.function.description, parameters: tool.function.parameters }))
      : undefined,
  };
  return { turns, params };
}
