/**
 * Strict schema of an inbound legacy Completions request (POST /v1/completions), served over
 * the chat path: a field the router cannot honour is a 400 naming it, never silently dropped.
 * `prompt`, `logprobs`, `suffix` and `best_of` are checked by parse-completions-request.ts (to
 * say why they are refused).
 */
import { z } from 'zod';

/** Most prompts one request may carry (each is one chat request). */
export const MAX_PROMPTS = 16;

const positiveInt = z.number().int().min(1);

export const completionsRequestSchema = z.strictObject({
  model: z.string().min(1),
  prompt: z.unknown().optional(),
  max_tokens: positiveInt.nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)], { error: 'expected a string or an array of at most 4 strings' }).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.strictObject({ include_usage: z.boolean().nullish() }).nullish(),
  seed: z.number().int().nullish(),
  user: z.string().nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  // Token ids of the target's tokenizer, forwarded as the chat endpoint forwards them.
  logit_bias: z.record(z.string().regex(/^\d+$/, 'token ids'), z.number().min(-100).max(100)).nullish(),
  echo: z.boolean().nullish(),
  logprobs: z.unknown().optional(),
  suffix: z.unknown().optional(),
  best_of: z.unknown().optional(),
});

export type WireCompletionsRequest = z.output<typeof completionsRequestSchema>;
