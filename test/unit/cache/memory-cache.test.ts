import { describe, expect, it } from 'vitest';

import { createMemoryCache } from '../../../src/cache/response-cache.js';
import { cachedAnswer, fakeClock } from './cache-fixtures.js';

const KB = 1024;

describe('memory cache', () => {
  it('returns what was stored, as a copy', async () => {
    const clock = fakeClock();
    const cache = createMemoryCache({ maxBytes: 64 * KB, maxEntryBytes: 8 * KB, now: clock.now });
    await cache.set('k', cachedAnswer('four', clock.now()), 1_000, 0);
    clock.advance(250);
    const hit = await cache.get('k');
    expect(hit).toEqual({ answer: cachedAnswer('four', 1_000_000), stale: false, ageMs: 250 });
    hit!.answer.response.choices[0]!.message.content = 'changed by a caller';
    expect((await cache.get('k'))!.answer.response.choices[0]!.message.content).toBe('four');
    expect(await cache.get('other')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 1, staleHits: 0, stores: 1, errors: 0, entries: 1 });
  });

  it('expires at the TTL, serves stale only when asked, and forgets after maxStaleMs', async () => {
    const clock = fakeClock();
    const cache = createMemoryCache({ maxBytes: 64 * KB, maxEntryBytes: 8 * KB, now: clock.now });
    await cache.set('k', cachedAnswer('four', clock.now()), 1_000, 5_000);
    clock.advance(999);
    expect((await cache.get('k'))?.stale).toBe(false);
    expect((await cache.get('k', { allowStale: true }))?.stale).toBe(false);
    clock.advance(1);
    expect(await cache.get('k')).toBeUndefined();
    const stale = await cache.get('k', { allowStale: true });
    expect(stale).toMatchObject({ stale: true, ageMs: 1_000 });
    clock.advance(4_999);
    expect((await cache.get('k', { allowStale: true }))?.stale).toBe(true);
    clock.advance(1);
    expect(await cache.get('k', { allowStale: true })).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 2, staleHits: 2, misses: 2, entries: 0, bytes: 0 });
  });

  it('without maxStaleMs keeps nothing past the TTL', async () => {
    const clock = fakeClock();
    const cache = createMemoryCache({ maxBytes: 64 * KB, maxEntryBytes: 8 * KB, now: clock.now });
    await cache.set('k', cachedAnswer('four', clock.now()), 1_000, 0);
    clock.advance(1_000);
    expect(await cache.get('k', { allowStale: true })).toBeUndefined();
  });

  it('stays within maxBytes, evicting the least recently used', async () => {
    const clock = fakeClock();
    const cache = createMemoryCache({ maxBytes: 10 * KB, maxEntryBytes: 4 * KB, now: clock.now });
    const text = 'x'.repeat(3 * KB); // ~3.2 KiB an entry: three fit, not four
    await cache.set('a', cachedAnswer(text), 60_000, 0);
    await cache.set('b', cachedAnswer(text), 60_000, 0);
    await cache.set('c', cachedAnswer(text), 60_000, 0);
    expect(cache.stats().entries).toBe(3);
    await cache.get('a'); // a is now the most recently used
    await cache.set('d', cachedAnswer(text), 60_000, 0);
    expect(cache.stats().bytes).toBeLessThanOrEqual(10 * KB);
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.get('a')).toBeDefined();
    expect(await cache.get('c')).toBeDefined();
    expect(await cache.get('d')).toBeDefined();
  });

  it('counts entry bytes as UTF-8', async () => {
    const cache = createMemoryCache({ maxBytes: 64 * KB, maxEntryBytes: 8 * KB });
    await cache.set('ascii', cachedAnswer('a'.repeat(1_000)), 60_000, 0);
    const ascii = cache.stats().bytes!;
    await cache.close();
    await cache.set('wide', cachedAnswer('é'.repeat(1_000)), 60_000, 0);
    expect(cache.stats().bytes! - ascii).toBeGreaterThanOrEqual(990);
  });

  it('does not store an entry over maxEntryBytes (an older one under that key stays)', async () => {
    const cache = createMemoryCache({ maxBytes: 64 * KB, maxEntryBytes: 2 * KB });
    await cache.set('k', cachedAnswer('small'), 60_000, 0);
    await cache.set('k', cachedAnswer('x'.repeat(3 * KB)), 60_000, 0);
    expect((await cache.get('k'))?.answer.response.choices[0]?.message.content).toBe('small');
    expect(cache.stats()).toMatchObject({ stores: 1, tooLarge: 1 });
  });

  it('replaces an entry under the same key, and counts its bytes once', async () => {
    const cache = createMemoryCache({ maxBytes: 64 * KB, maxEntryBytes: 8 * KB });
    await cache.set('k', cachedAnswer('one'), 60_000, 0);
    const bytes = cache.stats().bytes;
    await cache.set('k', cachedAnswer('two'), 60_000, 0);
    expect(cache.stats()).toMatchObject({ entries: 1, bytes });
    expect((await cache.get('k'))?.answer.response.choices[0]?.message.content).toBe('two');
  });

  it('never rejects on an answer that is not JSON', async () => {
    const cache = createMemoryCache({ maxBytes: 64 * KB, maxEntryBytes: 8 * KB });
    const odd = cachedAnswer('x');
    odd.response.choices[0]!.message.extra = { big: 1n };
    await expect(cache.set('k', odd, 60_000, 0)).resolves.toBeUndefined();
    expect(cache.stats().errors).toBe(1);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('empties on close', async () => {
    const cache = createMemoryCache({ maxBytes: 64 * KB, maxEntryBytes: 8 * KB });
    await cache.set('k', cachedAnswer('x'), 60_000, 0);
    await cache.close();
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });
});
