import { describe, expect, it } from 'vitest';
import type { Usage } from '../../../src/core/chat-response.js';
import { costNanos, costOf, nanosToUsd, usdToNanos, worstCaseCost, worstCaseNanos } from '../../../src/accounting/cost.js';
import type { Price } from '../../../src/accounting/prices.js';

const gpt4o: Price = { input: 2.5, cachedInput: 1.25, output: 10 };
const gpt4oMini: Price = { input: 0.15, cachedInput: 0.075, output: 0.6 };
const o3mini: Price = { input: 1.1, cachedInput: 0.55, output: 4.4 };
const noCache: Price = { input: 0.5, output: 1.5 };

describe('costOf', () => {
  it('bills cached prompt tokens at the cached price (a real gpt-4o usage with a cache hit)', () => {
    const usage: Usage = {
      promptTokens: 2006,
      completionTokens: 300,
      totalTokens: 2306,
      promptTokensDetails: { cached_tokens: 1920, audio_tokens: 0 },
      completionTokensDetails: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    };
    // 86 × 2.50 + 1920 × 1.25 + 300 × 10.00 = 5615 USD per 1M tokens
    expect(costOf(usage, gpt4o)).toBe(0.005615);
    expect(costNanos(usage, gpt4o)).toBe(5_615_000);
  });

  it('does not bill reasoning tokens twice: they are inside completion_tokens (an o3-mini usage)', () => {
    const usage: Usage = {
      promptTokens: 75,
      completionTokens: 1186,
      totalTokens: 1261,
      promptTokensDetails: { cached_tokens: 0 },
      completionTokensDetails: { reasoning_tokens: 1024, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    };
    // 75 × 1.10 + 1186 × 4.40 = 5300.9 USD per 1M tokens
    expect(costOf(usage, o3mini)).toBe(0.0053009);
  });

  it('treats missing or malformed details as no cache hit', () => {
    const usage: Usage = { promptTokens: 10, completionTokens: 20, totalTokens: 30 };
    expect(costOf(usage, gpt4oMini)).toBe(0.0000135);
    expect(costOf({ ...usage, promptTokensDetails: { cached_tokens: 'lots' } }, gpt4oMini)).toBe(0.0000135);
    expect(costOf({ ...usage, promptTokensDetails: { cached_tokens: -5 } }, gpt4oMini)).toBe(0.0000135);
    // More cached tokens than prompt tokens: clamped to the prompt.
    expect(costNanos({ ...usage, promptTokensDetails: { cached_tokens: 50 } }, gpt4oMini)).toBe(12_750); // 10 × 0.075 + 20 × 0.6 µUSD
  });

  it('bills cached tokens at the input price when the model has no cache price', () => {
    const usage: Usage = { promptTokens: 1000, completionTokens: 0, totalTokens: 1000, promptTokensDetails: { cached_tokens: 800 } };
    expect(costOf(usage, noCache)).toBe(0.0005);
  });

  it('is null, not 0, when the price or the counts are unknown', () => {
    const usage: Usage = { promptTokens: 10, completionTokens: 20, totalTokens: 30 };
    expect(costOf(usage, null)).toBeNull();
    expect(costOf({ ...usage, promptTokens: Number.NaN }, gpt4o)).toBeNull();
    expect(costOf({ ...usage, completionTokens: -1 }, gpt4o)).toBeNull();
    expect(costOf({ ...usage, completionTokens: 1.5 }, gpt4o)).toBeNull();
    expect(costOf(usage, { input: 0, output: 0 })).toBe(0);
  });

  it('sums without float drift when accumulated in nanodollars', () => {
    const usage: Usage = { promptTokens: 7, completionTokens: 3, totalTokens: 10, promptTokensDetails: { cached_tokens: 3 } };
    const one = costNanos(usage, gpt4oMini)!; // 4×0.15 + 3×0.075 + 3×0.6 = 2.625 µUSD
    expect(one).toBe(2625);
    let total = 0;
    let floats = 0;
    for (let i = 0; i < 100_000; i++) {
      total += costNanos(usage, gpt4oMini)!;
      floats += costOf(usage, gpt4oMini)!;
    }
    expect(total).toBe(262_500_000);
    expect(nanosToUsd(total)).toBe(0.2625);
    expect(floats).not.toBe(0.2625); // why sums are kept in nanodollars
    expect(usdToNanos(0.1 + 0.2)).toBe(300_000_000);
  });
});

describe('worstCaseCost', () => {
  it('prices every prompt token at the full input price plus max_tokens of output', () => {
    expect(worstCaseCost(1000, 500, gpt4o)).toBe(0.0075);
    expect(worstCaseNanos(1000, 500, gpt4o)).toBe(7_500_000);
  });

  it('rounds up, so a reservation is never short', () => {
    const tiny: Price = { input: 0.0001, output: 0 }; // 1e-10 USD a token
    expect(worstCaseNanos(1, 0, tiny)).toBe(1);
    expect(costNanos({ promptTokens: 1, completionTokens: 0, totalTokens: 1 }, tiny)).toBe(0);
  });

  it('is null for an unknown price or invalid counts', () => {
    expect(worstCaseCost(10, 10, null)).toBeNull();
    expect(worstCaseCost(-1, 10, gpt4o)).toBeNull();
  });
});
