import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

import { RedisConnection } from '../../../src/state/redis/redis-connection.js';
import { redisSchema } from '../../../src/state/state-schema.js';
import { createRedisStreamBuffer, DONE, type StreamBuffer } from '../../../src/streams/stream-buffer.js';
import { deletePrefix, TEST_REDIS_URL } from '../state/redis-test-support.js';
import { collect, config, describeBufferContract } from './stream-buffer-contract.js';

const prefix = `llm-router-test:${process.pid}-${Date.now()}:strm:`;
const connections: RedisConnection[] = [];
const buffers: StreamBuffer[] = [];

async function connection(): Promise<RedisConnection> {
  const c = new RedisConnection(redisSchema.parse({ url: TEST_REDIS_URL }));
  connections.push(c);
  expect(await c.waitReady(2_000)).toBe(true);
  return c;
}

/** Two "instances": their own connections, one key prefix. */
async function pair(cfg: Parameters<typeof createRedisStreamBuffer>[0], blockMs = 200) {
  const buffer = createRedisStreamBuffer(cfg, { connection: await connection(), keyPrefix: prefix, blockMs });
  const peer = createRedisStreamBuffer(cfg, { connection: await connection(), keyPrefix: prefix, blockMs });
  buffers.push(buffer, peer);
  return { buffer, peer };
}

afterAll(async () => {
  await Promise.all(buffers.map((b) => b.close()));
  await Promise.all(connections.map((c) => c.close()));
  await deletePrefix(TEST_REDIS_URL, prefix);
});

describeBufferContract({ name: 'redis', make: (cfg) => pair(cfg) });

const never = () => new AbortController().signal;

describe('redis stream buffer', () => {
  it('lets another instance read the backlog and the live tail', async () => {
    const { buffer, peer } = await pair(config());
    const { id } = await buffer.open('k1');
    await buffer.append(id, 'e1');
    await buffer.append(id, 'e2');
    const reading = collect(await peer.read(id, 'k1', '1', never()));
    await new Promise((r) => setTimeout(r, 30));
    await buffer.append(id, 'e3');
    await buffer.append(id, DONE);
    await buffer.end(id);
    expect(await reading).toEqual([
      { id: '2', data: 'e2' },
      { id: '3', data: 'e3' },
      { id: '4', data: DONE },
    ]);
  });

  it('keeps keys ttlMs after the end, then nothing is left', async () => {
    const { buffer, peer } = await pair(config({ ttlMs: 300, detachedTimeoutMs: 60_000 }));
    const { id } = await buffer.open('k1');
    await buffer.append(id, 'e1');
    const raw = new Redis(TEST_REDIS_URL);
    try {
      const live = await raw.pttl(`${prefix}{${id}}`);
      expect(live).toBeGreaterThan(60_000); // in progress: ttlMs + detachedTimeoutMs, refreshed per append
      await buffer.append(id, DONE);
      await buffer.end(id);
      const after = await raw.pttl(`${prefix}{${id}}:meta`);
      expect(after).toBeGreaterThan(0);
      expect(after).toBeLessThanOrEqual(300);
      expect(await collect(await peer.read(id, 'k1', undefined, never()))).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 400));
      expect(await peer.read(id, 'k1', undefined, never())).toBeUndefined();
      expect(await raw.keys(`${prefix}{${id}}*`)).toEqual([]);
    } finally {
      raw.disconnect();
    }
  });

  it('ends a live reader whose stream vanished (its producer died and the keys expired)', async () => {
    const { buffer, peer } = await pair(config(), 100);
    const { id } = await buffer.open('k1');
    await buffer.append(id, 'e1');
    const reading = collect(await peer.read(id, 'k1', undefined, never()));
    await new Promise((r) => setTimeout(r, 50));
    const raw = new Redis(TEST_REDIS_URL);
    await raw.del(`${prefix}{${id}}`, `${prefix}{${id}}:meta`);
    raw.disconnect();
    expect(await reading).toEqual([{ id: '1', data: 'e1' }]);
  });
});
