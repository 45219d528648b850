import { describe, expect, it } from 'vitest';

import { createCoalescer } from '../../../src/cache/coalesce.js';

/** A promise with its resolve and reject. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('createCoalescer', () => {
  it('runs one call for ten concurrent callers and gives them all its value', async () => {
    const c = createCoalescer<string>();
    const gate = deferred<string>();
    let calls = 0;
    const fn = async () => {
      calls++;
      return gate.promise;
    };
    const results = Array.from({ length: 10 }, () => c.run('k', fn));
    expect(c.inFlight()).toBe(1);
    gate.resolve('answer');
    const settled = await Promise.all(results);
    expect(calls).toBe(1);
    expect(settled.map((r) => r.value)).toEqual(Array(10).fill('answer'));
    expect(settled.filter((r) => !r.shared)).toHaveLength(1);
    expect(settled[0]!.shared).toBe(false);
    expect(c.inFlight()).toBe(0);
    expect(c.stats()).toEqual({ calls: 1, joined: 9 });
  });

  it('keeps different keys apart', async () => {
    const c = createCoalescer<string>();
    const [a, b] = await Promise.all([c.run('a', async () => 'A'), c.run('b', async () => 'B')]);
    expect([a.value, b.value, a.shared, b.shared]).toEqual(['A', 'B', false, false]);
  });

  it('shares a failure but does not keep it: the next call runs again', async () => {
    const c = createCoalescer<string>();
    const gate = deferred<string>();
    let calls = 0;
    const fn = () => {
      calls++;
      return gate.promise;
    };
    const both = [c.run('k', fn), c.run('k', fn)];
    gate.reject(new Error('upstream down'));
    for (const p of both) await expect(p).rejects.toThrow('upstream down');
    expect(c.inFlight()).toBe(0);
    const again = await c.run('k', async () => {
      calls++;
      return 'ok';
    });
    expect(again).toEqual({ value: 'ok', shared: false });
    expect(calls).toBe(2);
  });

  it('shares a synchronous throw like a rejection', async () => {
    const c = createCoalescer<string>();
    await expect(
      c.run('k', () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(c.inFlight()).toBe(0);
  });

  it('runs again once the call settled', async () => {
    const c = createCoalescer<number>();
    let calls = 0;
    const fn = async () => ++calls;
    expect((await c.run('k', fn)).value).toBe(1);
    expect((await c.run('k', fn)).value).toBe(2);
  });

  it('does not abort the call when the leader leaves: followers get the value', async () => {
    const c = createCoalescer<string>();
    const gate = deferred<string>();
    let seen: AbortSignal | undefined;
    const fn = (signal: AbortSignal) => {
      seen = signal;
      return gate.promise;
    };
    const leader = new AbortController();
    const first = c.run('k', fn, leader.signal);
    const follower = c.run('k', fn, new AbortController().signal);
    const anonymous = c.run('k', fn);
    leader.abort(new Error('client went away'));
    await expect(first).rejects.toThrow('client went away');
    expect(seen!.aborted).toBe(false);
    gate.resolve('answer');
    expect(await follower).toEqual({ value: 'answer', shared: true });
    expect(await anonymous).toEqual({ value: 'answer', shared: true });
  });

  it('aborts the call when every caller left, and frees the key at once', async () => {
    const c = createCoalescer<string>();
    let seen: AbortSignal | undefined;
    const fn = (signal: AbortSignal) => {
      seen = signal;
      return new Promise<string>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    };
    const a = new AbortController();
    const b = new AbortController();
    const pa = c.run('k', fn, a.signal);
    const pb = c.run('k', fn, b.signal);
    a.abort();
    await expect(pa).rejects.toThrow();
    expect(seen!.aborted).toBe(false);
    b.abort();
    await expect(pb).rejects.toThrow();
    expect(seen!.aborted).toBe(true);
    expect(c.inFlight()).toBe(0);
    // A new caller does not join the aborted call.
    const fresh = await c.run('k', async () => 'new');
    expect(fresh).toEqual({ value: 'new', shared: false });
  });

  it('refuses a caller whose signal already aborted, without calling', async () => {
    const c = createCoalescer<string>();
    let calls = 0;
    const done = new AbortController();
    done.abort();
    await expect(c.run('k', async () => String(++calls), done.signal)).rejects.toBeDefined();
    expect(calls).toBe(0);
    expect(c.inFlight()).toBe(0);
  });

  it('removes its abort listeners once settled', async () => {
    const c = createCoalescer<string>();
    const signal = new AbortController().signal;
    let added = 0;
    let removed = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => (added++, add(...args))) as AbortSignal['addEventListener'];
    signal.removeEventListener = ((...args: Parameters<AbortSignal['removeEventListener']>) => (removed++, remove(...args))) as AbortSignal['removeEventListener'];
    await c.run('k', async () => 'x', signal);
    await tick();
    expect(added).toBe(1);
    expect(removed).toBe(1);
  });
});
