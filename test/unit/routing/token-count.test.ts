import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../../src/routing/fit.js';
import { estimateTokens, TokenCounter } from '../../../src/routing/token-count.js';

describe('bounded token counting', () => {
  it('counts ordinary text exactly', async () => {
    const enc = await loadTokenizer();
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(50) + 'Numbers 12345 and punctuation!?';
    const c = new TokenCounter(enc);
    await c.add(text);
    // Batches are cut at word boundaries; BPE never merges across a space, so the count matches.
    expect(Math.abs(c.count - enc.encode(text).length)).toBeLessThanOrEqual(2);
  });

  it('estimates a long unbroken run instead of running the quadratic BPE on it', async () => {
    const enc = await loadTokenizer();
    const word = 'a'.repeat(12_000);
    const c = new TokenCounter(enc);
    await c.add(word);
    expect(c.count).toBe(estimateTokens(word));
    expect(c.count).toBe(3000);
  });

  it('estimates CJK (no spaces) per character', async () => {
    const enc = await loadTokenizer();
    const c = new TokenCounter(enc);
    await c.add('你好世界'.repeat(1000));
    expect(c.count).toBe(4000);
    expect(estimateTokens('😀😀')).toBe(2);
  });

  it('yields to the event loop while counting a large prompt', async () => {
    const enc = await loadTokenizer();
    const c = new TokenCounter(enc);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    await c.add('lorem ipsum dolor sit amet '.repeat(4000));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(2);
  });

  it('counts special-token text as ordinary text instead of throwing', async () => {
    const enc = await loadTokenizer();
    const c = new TokenCounter(enc);
    await c.add('hello <|endoftext|> world <|im_start|>');
    expect(c.count).toBeGreaterThan(4);
  });

  it('stops exact work after its budget and estimates the rest', async () => {
    const enc = await loadTokenizer();
    const c = new TokenCounter(enc);
    const chunk = 'word '.repeat(20_000); // 100 KB, past the 64 KB budget
    await c.add(chunk);
    await c.add(chunk);
    expect(c.count).toBeGreaterThan(30_000);
    expect(c.count).toBeLessThan(60_000);
  });
});
