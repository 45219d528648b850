import { describe, expect, it } from 'vitest';
import { createSessionStore, sameSecret, type SessionPrincipal } from '../../../src/cockpit/session-store.js';

const KEY: SessionPrincipal = { via: 'key', keyId: 'key-0', keyDigest: Buffer.alloc(32, 1) };

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('dashboard session store', () => {
  it('issues random tokens and CSRF tokens, and finds a session by its token only', () => {
    const store = createSessionStore();
    const a = store.create(KEY);
    const b = store.create(KEY);
    expect(a.token).toMatch(/^[\w-]{43}$/);
    expect(a.token).not.toBe(b.token);
    expect(a.session.csrf).not.toBe(a.token);
    expect(a.session.csrf).not.toBe(b.session.csrf);
    expect(store.get(a.token)).toBe(a.session);
    expect(store.get(`${a.token}x`)).toBeUndefined();
    expect(store.get(undefined)).toBeUndefined();
    expect(store.get('x'.repeat(10_000))).toBeUndefined();
  });

  it('ends a session left idle, and any session past its maximum age however busy', () => {
    const c = clock();
    const store = createSessionStore({ idleMs: 1_000, maxAgeMs: 5_000, now: c.now });
    const idle = store.create(KEY);
    const busy = store.create(KEY);
    for (let i = 0; i < 4; i++) {
      c.advance(900);
      expect(store.get(busy.token)).toBeDefined();
    }
    expect(store.get(idle.token)).toBeUndefined();
    c.advance(900); // 4 500 ms since login
    expect(store.get(busy.token)).toBeDefined();
    c.advance(600);
    expect(store.get(busy.token)).toBeUndefined();
  });

  it('keeps at most `max` sessions, dropping the least recently used', () => {
    const c = clock();
    const store = createSessionStore({ max: 2, now: c.now });
    const first = store.create(KEY);
    c.advance(1);
    const second = store.create(KEY);
    c.advance(1);
    store.get(first.token); // first is now the more recently used
    const third = store.create(KEY);
    expect(store.size).toBe(2);
    expect(store.get(second.token)).toBeUndefined();
    expect(store.get(first.token)).toBeDefined();
    expect(store.get(third.token)).toBeDefined();
  });

  it('destroys a session (logout) and sweeps sessions a predicate ends', () => {
    const store = createSessionStore();
    const a = store.create(KEY);
    const b = store.create({ via: 'loopback' });
    store.destroy(a.token);
    expect(store.get(a.token)).toBeUndefined();
    store.sweep((s) => s.principal.via === 'loopback');
    expect(store.get(b.token)).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('compares secrets of any length without throwing', () => {
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abc', 'abcd')).toBe(false);
    expect(sameSecret('', 'x')).toBe(false);
  });
});
