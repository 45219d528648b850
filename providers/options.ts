/**
 * Every provider kind's options schema and "disabled because" check, composed for src/config.
 * Each kind owns its options (providers/<kind>/options.ts); this file only lists them, so it
 * stays free of the adapters' runtime code (SDKs, node-llama-cpp).
 */
import { z } from 'zod';
import { azureDisabledReason, azureOptionsSchema } from './azure-openai/options.js';
import { llamaDisabledReason, llamaOptionsSchema } from './llama-cpp/options.js';
import { openaiDisabledReason, openaiOptionsSchema } from './openai/options.js';
import { rulesDisabledReason, rulesOptionsSchema } from './rules/options.js';
import type { MissingVariable } from './shared/options.js';

export type { MissingVariable } from './shared/options.js';

export const providerOptionsSchema = z.discriminatedUnion('kind', [openaiOptionsSchema, azureOptionsSchema, llamaOptionsSchema, rulesOptionsSchema]);
export type ProviderOptions = z.infer<typeof providerOptionsSchema>;

type DisabledChecks = { [K in ProviderOptions['kind']]: (config: Extract<ProviderOptions, { kind: K }>, missing: readonly MissingVariable[]) => string | undefined };

const disabledChecks: DisabledChecks = {
  openai: openaiDisabledReason,
  'azure-openai': azureDisabledReason,
  'llama-cpp': llamaDisabledReason,
  rules: rulesDisabledReason,
};

/** Why a configured provider is off (`enabled: false`, unset variables, no credential), or undefined. */
export function providerDisabledReason(config: ProviderOptions, missing: readonly MissingVariable[]): string | undefined {
  if (!config.enabled) return 'enabled: false';
  const check = disabledChecks[config.kind] as (c: ProviderOptions, m: readonly MissingVariable[]) => string | undefined;
  return check(config, missing);
}
