import { afterEach, describe, expect, it } from 'vitest';
import type { FleetMessage, FleetStore, SharedHealth } from '../../../src/health/fleet-types.js';
import { createRedisFleetStore } from '../../../src/health/redis-fleet-store.js';
import { RedisConnection } from '../../../src/state/redis/redis-connection.js';
import { redisSchema } from '../../../src/state/state-schema.js';
import { deletePrefix, runPrefix, TEST_REDIS_URL } from '../state/redis-test-support.js';
import { FakeFleetHub } from './fake-fleet-store.js';

/**
 * One contract for the fleet store, run against the in-memory fake the fleet tests use and
 * against the real Redis at 127.0.0.1:6379 (a key prefix of this run, deleted afterwards): the
 * Lua scripts and the fake must agree.
 */

interface Backend {
  /** Two stores of two instances on the same shared state. */
  open(): Promise<[FleetStore, FleetStore]>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fakeBackend(): Backend {
  let hub: FakeFleetHub;
  return {
    async open() {
      hub = new FakeFleetHub();
      return [hub.store('one'), hub.store('two')];
    },
    async close() {},
  };
}

function redisBackend(): Backend {
  const prefix = runPrefix('fleet-store');
  const conns: RedisConnection[] = [];
  const stores: FleetStore[] = [];
  let n = 0;
  return {
    async open() {
      const tag = `${prefix}${n++}:`;
      const make = async (id: string) => {
        const conn = new RedisConnection(redisSchema.parse({ url: TEST_REDIS_URL, keyPrefix: tag }));
        conns.push(conn);
        expect(await conn.waitReady(2_000)).toBe(true);
        const store = createRedisFleetStore(conn, tag, { instanceId: id });
        stores.push(store);
        return store;
      };
      return [await make('one'), await make('two')];
    },
    async close() {
      for (const s of stores.splice(0)) await s.close();
      for (const c of conns.splice(0)) await c.close();
      await deletePrefix(TEST_REDIS_URL, prefix);
    },
  };
}

const REC: Omit<SharedHealth, 'ver'> = {
  state: 'open',
  event: 'open',
  since: 1_700_000_000_000,
  by: 'one',
  at: 1_700_000_000_500,
  why: 'breaker opened',
  lastError: { at: 1_700_000_000_000, source: 'live', kind: 'server', message: 'a: 500 "quoted" and ü' },
};

/** Subscribes and resolves once listening; collects the messages. */
async function listening(store: FleetStore): Promise<FleetMessage[]> {
  const got: FleetMessage[] = [];
  await new Promise<void>((ready) => store.listen({ message: (m) => got.push(m), ready, lost: () => {} }));
  return got;
}

async function until(fn: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn() && Date.now() < end) await sleep(10);
}

describe.each([
  ['fake', fakeBackend],
  ['redis', redisBackend],
] as const)('fleet store contract (%s)', (_name, make) => {
  const backend = make();
  let one: FleetStore;
  let two: FleetStore;
  afterEach(async () => backend.close());

  it('writes conditionally, bumps the version, reads back every field and publishes with the version', async () => {
    [one, two] = await backend.open();
    const heard = await listening(two);
    expect(await one.read(['a/m'])).toEqual(new Map());

    // An absent record is healthy at version 0.
    expect(await one.write('a/m', REC, { state: 'healthy', ver: 0 })).toEqual({ ok: true, ver: 1 });
    expect(await two.read(['a/m', 'b/m'])).toEqual(new Map([['a/m', { ...REC, ver: 1, good: 0 }]]));
    await until(() => heard.length > 0);
    expect(heard).toEqual([{ type: 'state', key: 'a/m', from: 'one', rec: { ...REC, ver: 1 } }]);

    const refused = await two.write('a/m', { ...REC, state: 'probation', event: 'probation', by: 'two' }, { state: 'healthy' });
    expect(refused).toEqual({ ok: false, current: { ...REC, ver: 1 } });
    expect(await two.write('a/m', { ...REC, state: 'healthy', event: 'promote' }, { state: 'open', ver: 7 })).toMatchObject({ ok: false });

    const drain = { at: 5, by: 'ops', reason: 'incident' };
    expect(await two.write('a/m', { state: 'drained', event: 'drain', since: 9, by: 'two', drain }, {})).toEqual({ ok: true, ver: 2 });
    const read = (await one.read(['a/m'])).get('a/m')!;
    expect(read).toEqual({ state: 'drained', event: 'drain', since: 9, by: 'two', drain, ver: 2, good: 0 });
  });

  it('shares probe results without a version bump', async () => {
    [one, two] = await backend.open();
    const heard = await listening(two);
    await one.write('a/m', REC, {});
    const probe = { at: 10, outcome: 'fail' as const, latencyMs: 3, detail: 'ECONNREFUSED' };
    await one.noteProbe('a/m', probe);
    await until(() => heard.some((m) => m.type === 'probe'));
    expect(heard.find((m) => m.type === 'probe')).toEqual({ type: 'probe', key: 'a/m', from: 'one', probe });
    expect((await two.read(['a/m'])).get('a/m')).toMatchObject({ ver: 1, lastProbe: probe });
  });

  it('gives the probe lease to one instance at a time, renews it for its holder, and frees it when it runs out', async () => {
    [one, two] = await backend.open();
    expect(await one.lease('a/m', 150)).toBe(true);
    expect(await two.lease('a/m', 150)).toBe(false);
    expect(await one.lease('a/m', 150)).toBe(true);
    await sleep(200);
    expect(await two.lease('a/m', 150)).toBe(true);
    expect(await one.lease('a/m', 150)).toBe(false);
  });

  it('keeps a probation’s shadow calls within maxConcurrent and promoteAfter across instances', async () => {
    [one, two] = await backend.open();
    await one.write('a/m', { ...REC, state: 'probation', event: 'probation' }, {});
    const limits = { max: 2, budget: 3, ttlMs: 10_000 };
    expect(await one.takeSlot('a/m', 1, 's1', limits)).toBe(true);
    expect(await two.takeSlot('a/m', 1, 's2', limits)).toBe(true);
    expect(await two.takeSlot('a/m', 1, 's3', limits)).toBe(false);
    expect(await one.settleSlot('a/m', 1, 's1', true)).toBe(1);
    expect(await two.settleSlot('a/m', 1, 's2', true)).toBe(2);
    expect(await one.takeSlot('a/m', 1, 's4', limits)).toBe(true);
    // In flight + good reached promoteAfter: no more slots though one is free.
    expect(await two.takeSlot('a/m', 1, 's5', limits)).toBe(false);
    expect(await one.settleSlot('a/m', 1, 's4', false)).toBe(2);
    expect(await two.settleSlot('a/m', 1, '', true)).toBe(3);
    expect((await one.read(['a/m'])).get('a/m')).toMatchObject({ state: 'probation', good: 3 });
    // Another probation (another version) starts from nothing.
    expect(await one.takeSlot('a/m', 2, 's6', limits)).toBe(true);
  });

  it('frees the slot of an instance that died once its ttl is over', async () => {
    [one, two] = await backend.open();
    const limits = { max: 1, budget: 5, ttlMs: 100 };
    expect(await one.takeSlot('a/m', 1, 's1', limits)).toBe(true);
    expect(await two.takeSlot('a/m', 1, 's2', limits)).toBe(false);
    await sleep(150);
    expect(await two.takeSlot('a/m', 1, 's2', limits)).toBe(true);
  });

  it('lists the local views of the instances alive', async () => {
    [one, two] = await backend.open();
    await one.beat({ id: 'one', at: Date.now(), connected: true, targets: { 'a/m': 'open' } }, 10_000);
    await two.beat({ id: 'two', at: Date.now(), connected: true, targets: { 'a/m': 'healthy' } }, 100);
    expect((await one.instances()).map((v) => [v.id, v.targets['a/m']]).sort()).toEqual([['one', 'open'], ['two', 'healthy']]);
    await sleep(150);
    expect((await one.instances()).map((v) => v.id)).toEqual(['one']);
    await one.beat({ id: 'one', at: Date.now(), connected: true, targets: {} }, 100);
    await sleep(150);
    expect(await one.instances()).toEqual([]);
  });
});
