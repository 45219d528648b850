/** Options of an `openai` provider (OpenAI or any OpenAI-compatible server), and when it is off. */
import { z } from 'zod';
import { providerBaseOptions, upstreamHttpOptions, type MissingVariable } from '../shared/options.js';

export const openaiOptionsSchema = z
  .strictObject({
    kind: z.literal('openai'),
    /** API keys used in turn; a key answering 401/429 is rested. Values usually `${ENV}` references. */
    apiKeys: z.array(z.string()).default([]).describe('API keys used in turn; a key answering 401/429 is rested for keyCooldownMs.'),
    /** A single API key (shorthand for apiKeys: [key]). */
    apiKey: z.string().optional().describe('A single API key (shorthand for apiKeys).'),
    /** Base URL: any OpenAI-compatible server (vLLM, Ollama, LM Studio). */
    baseURL: z.string().url().optional().describe('Base URL of any OpenAI-compatible server; default https://api.openai.com/v1.'),
    organization: z.string().optional().describe('OpenAI-Organization header.'),
    project: z.string().optional().describe('OpenAI-Project header.'),
    /** How long a key that answered 401/429 is set aside. */
    keyCooldownMs: z.number().int().nonnegative().default(60_000).describe('How long a key that answered 401/429 is set aside.'),
    /** Allow calls without an API key (local OpenAI-compatible servers). */
    allowNoKey: z.boolean().default(false).describe('Allow calls without an API key (local OpenAI-compatible servers).'),
    ...upstreamHttpOptions,
    ...providerBaseOptions,
  })
  .describe('OpenAI or any OpenAI-compatible server.');

export type OpenAIProviderConfig = z.infer<typeof openaiOptionsSchema>;

/** The configured keys, `apiKey` first, without blanks or repeats. */
export function configuredKeys(config: Pick<OpenAIProviderConfig, 'apiKey' | 'apiKeys'>): string[] {
  const keys = [...(config.apiKey ? [config.apiKey] : []), ...config.apiKeys].filter((k) => k.trim() !== '');
  return [...new Set(keys)];
}

/**
 * Why the provider cannot run, or undefined. An unset variable in a list of several keys only
 * drops that key; an unset variable anywhere else (base URL, a lone key) turns the provider off.
 */
export function openaiDisabledReason(config: OpenAIProviderConfig, missing: readonly MissingVariable[]): string | undefined {
  const keys = configuredKeys(config);
  const elsewhere = missing.find((m) => m.path[0] !== 'apiKeys' && m.path[0] !== 'apiKey');
  if (elsewhere) return `environment variable ${elsewhere.variable} is not set`;
  if (keys.length === 0 && !config.allowNoKey) {
    const key = missing[0];
    return key ? `environment variable ${key.variable} is not set` : 'no API key configured';
  }
  return undefined;
}
