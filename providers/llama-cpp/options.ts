/** Options of a `llama-cpp` provider (local GGUF models), and when it is off. */
import { z } from 'zod';
import { providerBaseOptions, type MissingVariable } from '../shared/options.js';

export const llamaOptionsSchema = z
  .strictObject({
    kind: z.literal('llama-cpp'),
    /** Default registry id served when a target names no model. */
    model: z.string().optional().describe('Default model id from models/registry.yaml.'),
    /** Path of the registry file, relative to this config file; default: the router's own models/registry.yaml. */
    registry: z.string().optional().describe("Path of the local model registry, relative to this config file; default: the router's models/registry.yaml."),
    /** Parallel sequences in the one context (overrides the registry). */
    parallel: z.number().int().min(1).max(64).optional().describe('Parallel sequences served together.'),
    /** Requests waiting for a sequence before new ones fail with capacity. */
    queueLimit: z.number().int().nonnegative().default(16).describe('Requests that may wait for a sequence; beyond it requests fail with kind capacity.'),
    /** CPU threads (overrides the registry). Keep 1 on small machines. */
    threads: z.number().int().min(1).optional().describe('CPU threads for inference.'),
    /** Load the model when the router starts instead of on first use. */
    loadAtStart: z.boolean().default(false).describe('Load the model at start instead of on first use.'),
    /** Prompt adaptation for a small local model. */
    systemPrompt: z.string().optional().describe('Replaces the system message sent to the local model.'),
    systemPromptPrefix: z.string().optional().describe('Prepended to the system message sent to the local model.'),
    maxTokensCap: z.number().int().positive().optional().describe('Upper bound on max_tokens for the local model.'),
    ...providerBaseOptions,
  })
  .describe('A GGUF model run by node-llama-cpp in a supervised worker process.');

export type LlamaProviderConfig = z.infer<typeof llamaOptionsSchema>;

/** Why the provider cannot run, or undefined. Model files are checked at first use, not here. */
export function llamaDisabledReason(_config: LlamaProviderConfig, missing: readonly MissingVariable[]): string | undefined {
  return missing[0] ? `environment variable ${missing[0].variable} is not set` : undefined;
}
