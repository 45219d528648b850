import { describe, expect, it } from 'vitest';

import { createStreamCoalescer } from '../../../src/cache/coalesce.js';

/** An upstream of `items`, read only as it is pulled; records what happened to it. */
function upstream(items: string[], opts: { failAfter?: number; hangAt?: number } = {}) {
  const log = { opens: 0, pulled: 0, closed: false, signals: [] as AbortSignal[] };
  const open = async (signal: AbortSignal): Promise<AsyncIterable<string>> => {
    log.opens++;
    log.signals.push(signal);
    return (async function* () {
      try {
        for (const [i, item] of items.entries()) {
          if (i === opts.failAfter) throw new Error('upstream broke');
          if (i === opts.hangAt) await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
          log.pulled++;
          yield item;
        }
        if (opts.failAfter === items.length) throw new Error('upstream broke');
      } finally {
        log.closed = true;
      }
    })();
  };
  return { open, log };
}

async function readAll(items: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of items) out.push(x);
  return out;
}

const ITEMS = ['a', 'b', 'c', 'd', 'e', 'f'];

describe('createStreamCoalescer', () => {
  it('lets a later caller join and get every item from the start, in order, from one upstream', async () => {
    const sc = createStreamCoalescer<string>();
    const up = upstream(ITEMS);
    const leader = await sc.join('k', up.open);
    expect(leader.shared).toBe(false);
    const firstThree = [(await leader.items.next()).value, (await leader.items.next()).value, (await leader.items.next()).value];
    const follower = await sc.join('k', up.open);
    expect(follower.shared).toBe(true);
    const [rest, all] = await Promise.all([readAll(leader.items), readAll(follower.items)]);
    expect([...firstThree, ...rest]).toEqual(ITEMS);
    expect(all).toEqual(ITEMS);
    expect(up.log.opens).toBe(1);
    expect(sc.inFlight()).toBe(0);
    expect(sc.stats()).toEqual({ streams: 1, joined: 1, overflowed: 0 });
  });

  it('gives joiners the source open resolved to', async () => {
    const sc = createStreamCoalescer<string>();
    const source = Object.assign((async function* () { yield 'x'; })(), { model: 'gpt-4o-mini' });
    const open = async () => source;
    const a = await sc.join('k', open);
    const b = await sc.join('k', open);
    expect(b.source.model).toBe('gpt-4o-mini');
    expect(b.source).toBe(a.source);
    await Promise.all([readAll(a.items), readAll(b.items)]);
  });

  it('reads the upstream only as fast as its fastest reader', async () => {
    const sc = createStreamCoalescer<string>();
    const up = upstream(ITEMS);
    const { items } = await sc.join('k', up.open);
    expect(up.log.pulled).toBe(0);
    await items.next();
    await items.next();
    expect(up.log.pulled).toBe(2);
    await items.return!();
  });

  it('keeps the upstream open for the others when one reader leaves early', async () => {
    const sc = createStreamCoalescer<string>();
    const up = upstream(ITEMS);
    const leader = await sc.join('k', up.open);
    const follower = await sc.join('k', up.open);
    for await (const x of leader.items) if (x === 'b') break;
    expect(up.log.closed).toBe(false);
    expect(up.log.signals[0]!.aborted).toBe(false);
    expect(await readAll(follower.items)).toEqual(ITEMS);
  });

  it("does not abort the upstream when the leader's signal aborts", async () => {
    const sc = createStreamCoalescer<string>();
    const up = upstream(ITEMS, { hangAt: 2 });
    const leaderAbort = new AbortController();
    const leader = await sc.join('k', up.open, leaderAbort.signal);
    const follower = await sc.join('k', up.open, new AbortController().signal);
    await leader.items.next();
    const pending = leader.items.next(); // waits on the hanging upstream
    leaderAbort.abort(new Error('leader left'));
    await expect(pending).rejects.toThrow('leader left');
    expect(up.log.signals[0]!.aborted).toBe(false);
    expect((await follower.items.next()).value).toBe('a');
    expect((await follower.items.next()).value).toBe('b');
    await follower.items.return!(); // the last reader leaves: now the upstream goes
    expect(up.log.signals[0]!.aborted).toBe(true);
  });

  it('closes the upstream and aborts its signal when every reader left, and frees the key', async () => {
    const sc = createStreamCoalescer<string>();
    const up = upstream(ITEMS);
    const a = await sc.join('k', up.open);
    const b = await sc.join('k', up.open);
    await a.items.next();
    await a.items.return!();
    await b.items.next();
    expect(up.log.closed).toBe(false);
    await b.items.return!();
    await new Promise((r) => setImmediate(r));
    expect(up.log.closed).toBe(true);
    expect(up.log.signals[0]!.aborted).toBe(true);
    expect(sc.inFlight()).toBe(0);
    const again = await sc.join('k', up.open);
    expect(again.shared).toBe(false);
    expect(await readAll(again.items)).toEqual(ITEMS);
  });

  it('closes an upstream that opens after every caller left', async () => {
    const sc = createStreamCoalescer<string>();
    const up = upstream(ITEMS);
    let release!: () => void;
    const slowOpen = async (signal: AbortSignal) => {
      await new Promise<void>((r) => (release = r));
      return up.open(signal);
    };
    const abort = new AbortController();
    const joining = sc.join('k', slowOpen, abort.signal);
    await new Promise((r) => setImmediate(r));
    abort.abort(new Error('gone'));
    await expect(joining).rejects.toThrow('gone');
    expect(sc.inFlight()).toBe(0);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(up.log.signals[0]!.aborted).toBe(true);
    expect(up.log.pulled).toBe(0);
  });

  it('refuses joiners once the buffer passed its bound: they open their own upstream', async () => {
    const sc = createStreamCoalescer<string>({ maxBufferBytes: 10, sizeOf: (x) => x.length });
    const up = upstream(['12345', '67890', 'x', 'y']);
    const leader = await sc.join('k', up.open);
    const follower = await sc.join('k', up.open);
    await leader.items.next();
    await leader.items.next(); // 10 bytes seen: still joinable
    expect(sc.inFlight()).toBe(1);
    await leader.items.next(); // 11: past the bound
    expect(sc.inFlight()).toBe(0);
    const late = await sc.join('k', up.open);
    expect(late.shared).toBe(false);
    expect(up.log.opens).toBe(2);
    expect(await readAll(follower.items)).toEqual(['12345', '67890', 'x', 'y']);
    expect(await readAll(leader.items)).toEqual(['y']);
    expect(await readAll(late.items)).toEqual(['12345', '67890', 'x', 'y']);
    expect(sc.stats()).toEqual({ streams: 2, joined: 1, overflowed: 2 }); // the late stream outgrew the bound too
  });

  it('shares a failure of open with every joiner, and keeps nothing', async () => {
    const sc = createStreamCoalescer<string>();
    let opens = 0;
    let fail!: (e: Error) => void;
    const open = () => {
      opens++;
      return new Promise<AsyncIterable<string>>((_, reject) => (fail = reject));
    };
    const joins = [sc.join('k', open), sc.join('k', open)];
    fail(new Error('no target'));
    for (const j of joins) await expect(j).rejects.toThrow('no target');
    expect(sc.inFlight()).toBe(0);
    const up = upstream(['ok']);
    expect(await readAll((await sc.join('k', up.open)).items)).toEqual(['ok']);
    expect(opens).toBe(1);
  });

  it('throws a mid-stream failure to every reader after the items before it', async () => {
    const sc = createStreamCoalescer<string>();
    const up = upstream(ITEMS, { failAfter: 3 });
    const a = await sc.join('k', up.open);
    const b = await sc.join('k', up.open);
    const read = async (items: AsyncIterable<string>) => {
      const got: string[] = [];
      try {
        for await (const x of items) got.push(x);
      } catch (err) {
        return { got, err: (err as Error).message };
      }
      return { got, err: undefined };
    };
    const [ra, rb] = await Promise.all([read(a.items), read(b.items)]);
    expect(ra).toEqual({ got: ['a', 'b', 'c'], err: 'upstream broke' });
    expect(rb).toEqual(ra);
    expect(sc.inFlight()).toBe(0);
  });

  it('refuses a caller whose signal already aborted, opening nothing', async () => {
    const sc = createStreamCoalescer<string>();
    const up = upstream(ITEMS);
    const done = new AbortController();
    done.abort();
    await expect(sc.join('k', up.open, done.signal)).rejects.toBeDefined();
    expect(up.log.opens).toBe(0);
  });
});

describe('createStreamCoalescer, a signal that aborted after joining', () => {
  it('stops the reader at its next read, even with items buffered', async () => {
    const sc = createStreamCoalescer<string>();
    const up = upstream(ITEMS);
    const fast = await sc.join('k', up.open);
    await fast.items.next();
    await fast.items.next();
    const abort = new AbortController();
    const slow = await sc.join('k', up.open, abort.signal);
    abort.abort(new Error('slow left'));
    await expect(slow.items.next()).rejects.toThrow('slow left');
    expect(await readAll(fast.items)).toEqual(ITEMS.slice(2));
  });
});
