import { describe, expect, it } from 'vitest';

import { routeCacheSchema } from '../../../src/cache/cache-schema.js';
import { isCacheable, isStorable } from '../../../src/cache/cacheable.js';
import type { ChatChoice, ChatResponse, FinishReason } from '../../../src/core/chat-response.js';
import { chatRequest } from '../../fixtures/requests.js';

const cfg = routeCacheSchema.parse({ ttlMs: 60_000 });

function answer(finishReason: FinishReason, message: ChatChoice['message'] = { content: 'four' }, n = 1): ChatResponse {
  return { model: 'm', choices: Array.from({ length: n }, (_, index) => ({ index, message, finishReason })) };
}

describe('isCacheable', () => {
  it('caches temperature 0 only, unless the route allows sampled answers', () => {
    expect(isCacheable(chatRequest({ temperature: 0 }), cfg)).toBe(true);
    expect(isCacheable(chatRequest({ temperature: 0.7 }), cfg)).toBe(false);
    const loose = { ...cfg, cacheTemperature: true };
    expect(isCacheable(chatRequest({ temperature: 0.7 }), loose)).toBe(true);
  });

  it('treats an absent temperature as the provider default (sampled)', () => {
    expect(isCacheable(chatRequest({}), cfg)).toBe(false);
    expect(isCacheable(chatRequest({}), { ...cfg, cacheTemperature: true })).toBe(true);
  });

  it('allows n > 1', () => {
    expect(isCacheable(chatRequest({ temperature: 0, n: 3 }), cfg)).toBe(true);
  });

  it('refuses audio output', () => {
    expect(isCacheable(chatRequest({ temperature: 0, modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' } }), cfg)).toBe(false);
    expect(isCacheable(chatRequest({ temperature: 0, modalities: ['text'] }), cfg)).toBe(true);
  });
});

describe('isStorable', () => {
  it('stores whole answers: stop, tool_calls', () => {
    expect(isStorable(answer('stop'), cfg)).toBe(true);
    expect(isStorable(answer('tool_calls', { content: null, toolCalls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }), cfg)).toBe(true);
    expect(isStorable(answer('stop', { content: null, refusal: 'I cannot help with that.' }), cfg)).toBe(true);
  });

  it('stores truncated and filtered answers only when the route says so', () => {
    expect(isStorable(answer('length'), cfg)).toBe(false);
    expect(isStorable(answer('length'), { ...cfg, storeTruncated: true })).toBe(true);
    expect(isStorable(answer('content_filter', { content: null }), cfg)).toBe(false);
    expect(isStorable(answer('content_filter', { content: null }), { ...cfg, storeFiltered: true })).toBe(true);
  });

  it('refuses empty answers, answers with no choices, and one bad choice among several', () => {
    expect(isStorable(answer('stop', { content: '' }), cfg)).toBe(false);
    expect(isStorable({ model: 'm', choices: [] }, cfg)).toBe(false);
    const mixed = answer('stop', { content: 'a' }, 2);
    mixed.choices[1]!.finishReason = 'length';
    expect(isStorable(mixed, cfg)).toBe(false);
  });

  it('refuses answers with audio', () => {
    expect(isStorable(answer('stop', { content: 'hi', extra: { audio: { id: 'audio_1' } } }), cfg)).toBe(false);
  });
});

describe('cache schemas', () => {
  it('fills the route defaults and needs ttlMs', () => {
    expect(cfg).toEqual({ ttlMs: 60_000, maxStaleMs: 0, scope: 'key', cacheTemperature: false, storeTruncated: false, storeFiltered: false, coalesce: true });
    expect(routeCacheSchema.safeParse({}).success).toBe(false);
    expect(routeCacheSchema.safeParse({ ttlMs: 1, scpoe: 'global' }).success).toBe(false);
  });

  it('reads byte sizes for the global section', async () => {
    const { cacheSchema } = await import('../../../src/cache/cache-schema.js');
    expect(cacheSchema.parse({})).toEqual({ maxBytes: 64 * 1024 ** 2, maxEntryBytes: 1024 ** 2 });
    expect(cacheSchema.parse({ maxBytes: '8mb', maxEntryBytes: 4096 })).toEqual({ maxBytes: 8 * 1024 ** 2, maxEntryBytes: 4096 });
  });

  it('describes every field', async () => {
    const { cacheSchema } = await import('../../../src/cache/cache-schema.js');
    for (const field of [...Object.values(routeCacheSchema.shape), ...Object.values(cacheSchema.shape)]) expect(field.description).toBeTruthy();
  });
});
