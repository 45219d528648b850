import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { cleanup, files, lines, open, tempDir, writeMany } from './audit-test-support.js';

/** The shared test Redis; only our own key is touched. */
const REDIS_URL = 'redis://127.0.0.1:6379';
const stream = `llm-router-test:${process.pid}-${Date.now()}:audit`;

afterEach(cleanup);

describe('audit log: Redis stream mirror', () => {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  afterAll(async () => {
    await client.del(stream);
    client.disconnect();
  });

  it('XADDs every line, byte for byte, to the stream (field "line")', async () => {
    await client.connect();
    const dir = tempDir('redis');
    const log = await open(dir, { flushIntervalMs: 20, redis: { url: REDIS_URL, stream, maxLen: 10_000 } });
    writeMany(log, 1_200); // more than one pipeline
    await log.flush();
    writeMany(log, 10, 1_200);
    await log.close();
    const onDisk = (await files(dir)).flatMap((f) => lines(f));
    const entries = await client.xrange(stream, '-', '+');
    expect(entries.map(([, fields]) => fields)).toEqual(onDisk.map((l) => ['line', l]));
    expect(log.stats()).toMatchObject({ redisErrors: 0, redis: { sent: 1_210, queued: 0, dropped: 0, errors: 0 } });
  });
});

describe('audit log: Redis down', () => {
  it('a dead Redis never slows write() and close() returns within its timeout, the file complete', async () => {
    const dir = tempDir('redis-dead');
    const log = await open(dir, { flushIntervalMs: 20, redis: { url: 'redis://127.0.0.1:1', stream, closeTimeoutMs: 300, maxQueue: 500 } });
    const t0 = performance.now();
    writeMany(log, 2_000);
    const writeMs = performance.now() - t0;
    expect(writeMs).toBeLessThan(500);
    await log.flush();
    const t1 = performance.now();
    await log.close();
    const closeMs = performance.now() - t1;
    expect(closeMs).toBeLessThan(300 + 500);
    expect((await files(dir)).flatMap((f) => lines(f))).toHaveLength(2_000);
    const s = log.stats();
    expect(s.redisErrors).toBeGreaterThan(0);
    // the mirror's own queue is bounded (500): the rest were dropped, and what was left at close too
    expect(s.redis).toMatchObject({ sent: 0, queued: 0, dropped: 2_000 });
  });
});
