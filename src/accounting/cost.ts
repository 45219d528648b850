/**
 * What a request cost, from the usage the upstream reported and the model's price.
 *
 * - Prompt: `prompt_tokens − cached_tokens` at `input`, `cached_tokens`
 *   (`usage.promptTokensDetails.cached_tokens`, clamped to the prompt) at `cachedInput`, or
 *   at `input` when the model has no cache price.
 * - Completion: `completion_tokens` at `output`. Reasoning tokens
 *   (`completionTokensDetails.reasoning_tokens`) are already part of `completion_tokens` in
 *   OpenAI's (and Azure's) usage, so they are not added again; the same holds for accepted
 *   and rejected prediction tokens.
 * - Audio tokens (`audio_tokens` in either details object) are billed at the text prices:
 *   OpenAI's audio prices are not in the table.
 *
 * Money is computed exactly in integers: prices become picodollars per token (exact for
 * prices given to 1e-6 USD per 1M tokens), products are BigInt, and a request's cost is
 * rounded once to whole nanodollars. Sum `…Nanos` results (integers, exact) rather than USD
 * floats when accumulating; `nanosToUsd` converts for display.
 */
import type { Usage } from '../core/chat-response.js';
import type { Price } from './prices.js';

const PICO_PER_NANO = 1000n;
const NANOS_PER_USD = 1e9;

/** USD per 1M tokens → picodollars per token (1 USD/1M = 1e-6 USD/token = 1e6 pUSD/token). */
const picoPerToken = (usdPerMillion: number): bigint => BigInt(Math.round(usdPerMillion * 1e6));

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** A token count from a details object, or 0 when absent or malformed. */
function detail(details: Record<string, unknown> | undefined, key: string): number {
  const v = details?.[key];
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

const roundNanos = (pico: bigint): number => Number((pico + PICO_PER_NANO / 2n) / PICO_PER_NANO);
const ceilNanos = (pico: bigint): number => Number((pico + PICO_PER_NANO - 1n) / PICO_PER_NANO);

/**
 * The cost of `usage` at `price` in whole nanodollars (1e-9 USD), or null when the price is
 * unknown or the usage's counts are not non-negative integers (an unreadable bill is not free).
 */
export function costNanos(usage: Usage, price: Price | null): number | null {
  if (!price || !isCount(usage.promptTokens) || !isCount(usage.completionTokens)) return null;
  const cached = Math.min(detail(usage.promptTokensDetails, 'cached_tokens'), usage.promptTokens);
  const pico =
    BigInt(usage.promptTokens - cached) * picoPerToken(price.input) +
    BigInt(cached) * picoPerToken(price.cachedInput ?? price.input) +
    BigInt(usage.completionTokens) * picoPerToken(price.output);
  return roundNanos(pico);
}

/** The cost of `usage` at `price` in USD (to 1e-9), or null: see `costNanos`. */
export function costOf(usage: Usage, price: Price | null): number | null {
  const n = costNanos(usage, price);
  return n === null ? null : nanosToUsd(n);
}

/**
 * The most a request can cost, in nanodollars rounded up, for budget reservations: every
 * prompt token at the full input price (a cache hit cannot be known in advance) and
 * `maxTokens` completion tokens. Null when the price is unknown or a count is invalid.
 */
export function worstCaseNanos(promptTokens: number, maxTokens: number, price: Price | null): number | null {
  if (!price || !isCount(promptTokens) || !isCount(maxTokens)) return null;
  return ceilNanos(BigInt(promptTokens) * picoPerToken(price.input) + BigInt(maxTokens) * picoPerToken(price.output));
}

/** `worstCaseNanos` in USD. */
export function worstCaseCost(promptTokens: number, maxTokens: number, price: Price | null): number | null {
  const n = worstCaseNanos(promptTokens, maxTokens, price);
  return n === null ? null : nanosToUsd(n);
}

/** Nanodollars → USD (one division: the nearest double to the exact amount). */
export const nanosToUsd = (nanos: number): number => nanos / NANOS_PER_USD;

/** USD → whole nanodollars, rounded to the nearest (for budgets written in USD). */
export const usdToNanos = (usd: number): number => Math.round(usd * NANOS_PER_USD);
