/** Options of an `azure-openai` provider, and when it is off. */
import { z } from 'zod';
import { providerBaseOptions, upstreamHttpOptions, type MissingVariable } from '../shared/options.js';

export const azureOptionsSchema = z
  .strictObject({
    kind: z.literal('azure-openai'),
    /** Resource endpoint, e.g. https://my-resource.openai.azure.com */
    endpoint: z.string().url().describe('Resource endpoint, e.g. https://my-resource.openai.azure.com'),
    apiKey: z.string().optional().describe('api-key for the resource.'),
    /** An Entra ID bearer token instead of an api-key. */
    adToken: z.string().optional().describe('Entra ID bearer token used instead of apiKey.'),
    apiVersion: z.string().default('2024-10-21').describe('Azure OpenAI api-version query parameter.'),
    /** Model name → deployment name. A model not listed uses its own name as the deployment. */
    deployments: z.record(z.string(), z.string()).default({}).describe('Model name to deployment name.'),
    ...upstreamHttpOptions,
    ...providerBaseOptions,
  })
  .describe('Azure OpenAI.');

export type AzureProviderConfig = z.infer<typeof azureOptionsSchema>;

/** Why the provider cannot run, or undefined: every field it references must be set, and it needs a credential. */
export function azureDisabledReason(config: AzureProviderConfig, missing: readonly MissingVariable[]): string | undefined {
  if (missing[0]) return `environment variable ${missing[0].variable} is not set`;
  if (!config.apiKey?.trim() && !config.adToken?.trim()) return 'no apiKey or adToken configured';
  return undefined;
}
