/** Options of a `rules` provider (template answers from a YAML file), and when it is off. */
import { z } from 'zod';
import { providerBaseOptions, type MissingVariable } from '../shared/options.js';

export const rulesOptionsSchema = z
  .strictObject({
    kind: z.literal('rules'),
    /** The rules file, relative to this config file. */
    file: z
      .string()
      .min(1)
      .describe('YAML file of rules (keywords/regex → template answer) and an optional default answer, relative to this config file; re-read when it changes.'),
    enabled: providerBaseOptions.enabled,
  })
  .describe('Canned answers from a YAML file of keyword/regex rules: FAQs, and "the service is degraded" at the end of a fallback chain. Costs nothing and never fails a health check.');

export type RulesProviderConfig = z.infer<typeof rulesOptionsSchema>;

/** Why the provider cannot run, or undefined. The file itself is read (and checked) when the provider is built. */
export function rulesDisabledReason(_config: RulesProviderConfig, missing: readonly MissingVariable[]): string | undefined {
  return missing[0] ? `environment variable ${missing[0].variable} is not set` : undefined;
}
