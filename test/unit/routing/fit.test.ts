import { beforeEach, describe, expect, it, vi } from 'vitest';
import { countRequestTokens } from '../../../src/accounting/token-accounting.js';
import type { Capabilities } from '../../../src/core/provider.js';
import { needsTokenCount, promptCounter as realPromptCounter, unfitFor, unfitReasonSync, type CounterOptions } from '../../../src/routing/fit.js';
import type { ChatRequest } from '../../../src/core/chat-request.js';
import { chatRequest } from '../../fixtures/requests.js';

/** The real counter, watched. */
const counts = vi.fn(countRequestTokens);
const promptCounter = (req: ChatRequest, known?: CounterOptions['known']) => realPromptCounter(req, { known, count: counts });

const caps = (contextLength?: number, extra: Partial<Capabilities> = {}): Capabilities => ({ tools: true, jsonObject: true, jsonSchema: true, maxChoices: 8, vision: true, contextLength, ...extra });
/** 148 tokens on cl100k (gpt-4), 168 on o200k (gpt-4o): long words split differently. */
const LONG_WORDS = 'internationalization counterrevolutionary photosynthesis '.repeat(20);
const longRequest = () => chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }] });

beforeEach(() => {
  counts.mockClear();
});

describe('context fit per encoding', () => {
  it('counts with each target model\'s own encoding', async () => {
    const req = longRequest();
    const count = promptCounter(req);
    const cl100k = await count('gpt-4');
    const o200k = await count('gpt-4o');
    expect(cl100k).toBe(await countRequestTokens(req, 'gpt-4'));
    expect(o200k).toBe(await countRequestTokens(req, 'gpt-4o'));
    expect(cl100k).toBeLessThan(o200k);
    // A context between the two: gpt-4 fits, gpt-4o does not.
    const mid = caps(Math.floor((cl100k + o200k) / 2));
    expect(await unfitFor(req, mid, 'gpt-4', count)).toBeUndefined();
    expect(await unfitFor(req, mid, 'gpt-4o', count)).toEqual({ kind: 'context', why: expect.stringMatching(/does not fit context of/) });
  });

  it('counts once per encoding within a request, not once per target', async () => {
    const req = longRequest();
    const count = promptCounter(req);
    const small = caps(100);
    for (const model of ['gpt-4o', 'o3', 'gpt-4.1-mini', 'openai/gpt-4o', 'gpt-4', 'gpt-3.5-turbo', 'some-local-model']) await unfitFor(req, small, model, count);
    expect(counts).toHaveBeenCalledTimes(2);
    expect(counts.mock.calls.map((c) => c[1])).toEqual(['gpt-4o', 'gpt-4']);
  });

  it('counts per model when the request has images (their tokens differ by model)', async () => {
    const img = { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } };
    const req = chatRequest({ messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, img] }] });
    const count = promptCounter(req);
    const a = await count('gpt-4o');
    const b = await count('gpt-4o-mini');
    await count('gpt-4o');
    expect(counts).toHaveBeenCalledTimes(2);
    expect(b).toBeGreaterThan(a);
  });

  it('never counts when characters alone prove the prompt fits', async () => {
    const req = chatRequest({ max_tokens: 100 });
    expect(needsTokenCount(req, caps(1_000))).toBe(false);
    expect(await unfitFor(req, caps(1_000), 'gpt-4o', promptCounter(req))).toBeUndefined();
    // No context known, or a provider that compacts history itself: never.
    expect(needsTokenCount(longRequest(), caps(undefined))).toBe(false);
    expect(needsTokenCount(longRequest(), caps(10, { compactsHistory: true }))).toBe(false);
    expect(counts).not.toHaveBeenCalled();
  });

  it('the shortcut sees tool-call arguments and images, which cost tokens too', () => {
    const args = 'x '.repeat(600);
    const req = chatRequest({
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: args } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'ok' },
      ],
    });
    expect(needsTokenCount(req, caps(1_000))).toBe(true);
    const img = chatRequest({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/x.png' } }] }] });
    expect(needsTokenCount(img, caps(100_000))).toBe(true);
  });

  it('includes max_tokens in the fit', async () => {
    const req = chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }], max_tokens: 50 });
    const count = promptCounter(req);
    const tokens = await count('gpt-4o');
    expect(await unfitFor(req, caps(tokens + 50), 'gpt-4o', count)).toBeUndefined();
    expect(await unfitFor(req, caps(tokens + 49), 'gpt-4o', count)).toMatchObject({ kind: 'context' });
  });

  it('reports capability reasons as static, before any count', async () => {
    const req = chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }], n: 4 });
    expect(await unfitFor(req, caps(10, { maxChoices: 1 }), 'gpt-4o', promptCounter(req))).toEqual({ kind: 'static', why: 'n > 1 not supported' });
    expect(counts).not.toHaveBeenCalled();
  });

  it('remembers the counts per encoding for shadow traffic (never counts itself)', async () => {
    const req = longRequest();
    const count = promptCounter(req);
    // Nothing counted yet: a fit that needs a count reads as unfit.
    expect(unfitReasonSync(req, caps(160), 'gpt-4')).toBe('prompt size unknown');
    await count('gpt-4');
    counts.mockClear();
    expect(unfitReasonSync(req, caps(160), 'gpt-4')).toBeUndefined();
    expect(unfitReasonSync(req, caps(160), 'gpt-3.5-turbo')).toBeUndefined();
    expect(unfitReasonSync(req, caps(100), 'gpt-4')).toMatch(/does not fit context of 100/);
    // o200k was never counted for this request.
    expect(unfitReasonSync(req, caps(160), 'gpt-4o')).toBe('prompt size unknown');
    await count('gpt-4o');
    expect(unfitReasonSync(req, caps(160), 'gpt-4o')).toMatch(/does not fit/);
    // Static reasons and the characters shortcut need no count at all.
    expect(unfitReasonSync(req, caps(100_000), 'gpt-4o')).toBeUndefined();
    expect(unfitReasonSync(chatRequest({ n: 3 }), caps(10, { maxChoices: 1 }), 'm')).toBe('n > 1 not supported');
    expect(counts).toHaveBeenCalledTimes(1);
  });

  it('a new counter (messages changed) replaces the remembered counts', async () => {
    const req = longRequest();
    await promptCounter(req)('gpt-4o');
    expect(unfitReasonSync(req, caps(160), 'gpt-4o')).toMatch(/does not fit/);
    req.messages = [{ role: 'user', content: 'short now' }];
    promptCounter(req, { model: 'gpt-4o', tokens: 12 });
    expect(unfitReasonSync(req, caps(11), 'gpt-4o')).toMatch(/does not fit/);
    expect(unfitReasonSync(req, caps(12), 'gpt-4o')).toBeUndefined();
  });
});
