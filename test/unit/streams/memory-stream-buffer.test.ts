import { afterAll, describe, expect, it } from 'vitest';

import { createMemoryStreamBuffer, DONE, StreamBufferFull, StreamsFull, type MemoryStreamBuffer } from '../../../src/streams/stream-buffer.js';
import { collect, config, describeBufferContract } from './stream-buffer-contract.js';

const opened: MemoryStreamBuffer[] = [];
afterAll(async () => {
  await Promise.all(opened.map((b) => b.close()));
});

describeBufferContract({
  name: 'memory',
  async make(cfg) {
    const buffer = createMemoryStreamBuffer(cfg);
    opened.push(buffer);
    return { buffer };
  },
});

const never = () => new AbortController().signal;

describe('memory stream buffer', () => {
  it('forgets a stream ttlMs after its end, not before (fake clock)', async () => {
    let t = 1_000;
    const buffer = createMemoryStreamBuffer(config({ ttlMs: 10_000 }), { now: () => t });
    opened.push(buffer);
    const { id } = await buffer.open('k1');
    await buffer.append(id, 'e1');
    t += 60 * 60_000; // a stream in progress never expires here
    await buffer.append(id, DONE);
    await buffer.end(id);
    t += 9_999;
    expect(await collect(await buffer.read(id, 'k1', undefined, never()))).toHaveLength(2);
    t += 1;
    expect(await buffer.read(id, 'k1', undefined, never())).toBeUndefined();
    expect(buffer.stats()).toEqual({ streams: 0, live: 0, bytes: 0 });
  });

  it('holds at most maxStreams streams in progress; ended ones do not count', async () => {
    const buffer = createMemoryStreamBuffer(config({ maxStreams: 2 }));
    opened.push(buffer);
    const a = await buffer.open('k1');
    await buffer.open('k1');
    await expect(buffer.open('k1')).rejects.toBeInstanceOf(StreamsFull);
    await buffer.end(a.id);
    await expect(buffer.open('k1')).resolves.toHaveProperty('id');
    expect(buffer.stats()).toMatchObject({ streams: 3, live: 2 });
  });

  it('makes room under maxBufferedBytes by dropping the oldest ended stream, never a live one', async () => {
    const buffer = createMemoryStreamBuffer(config({ maxBufferedBytes: 4_096, maxStreamBytes: 3_000 }));
    opened.push(buffer);
    const a = await buffer.open('k1');
    await buffer.append(a.id, 'a'.repeat(2_000));
    await buffer.end(a.id);
    const b = await buffer.open('k1');
    await buffer.append(b.id, 'b'.repeat(2_000)); // only fits without a
    expect(await buffer.read(a.id, 'k1', undefined, never())).toBeUndefined();
    const c = await buffer.open('k1');
    await expect(buffer.append(c.id, 'c'.repeat(2_000))).rejects.toBeInstanceOf(StreamBufferFull); // b is live: kept
    expect((await collect(await buffer.read(c.id, 'k1', undefined, never()))).map((e) => e.id)).toEqual(['1', '2']);
    expect(buffer.stats().bytes).toBeLessThanOrEqual(4_096 + 512);
    await buffer.append(b.id, DONE);
    expect((await collect(await buffer.read(b.id, 'k1', undefined, never()))).map((e) => e.data.length)).toEqual([2_000, DONE.length]);
  });

  it('lets a reader finish the events it holds when its stream is dropped', async () => {
    let t = 0;
    const buffer = createMemoryStreamBuffer(config({ ttlMs: 1_000 }), { now: () => t });
    opened.push(buffer);
    const { id } = await buffer.open('k1');
    for (let i = 1; i <= 3; i++) await buffer.append(id, `e${i}`);
    await buffer.append(id, DONE);
    await buffer.end(id);
    const it = (await buffer.read(id, 'k1', undefined, never()))![Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual({ id: '1', data: 'e1' });
    t += 1_000;
    expect(buffer.stats().streams).toBe(0);
    const rest: string[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value.data);
    expect(rest).toEqual(['e2', 'e3', DONE]);
  });

  it('ends waiting readers on close', async () => {
    const buffer = createMemoryStreamBuffer(config());
    const { id } = await buffer.open('k1');
    const reading = collect(await buffer.read(id, 'k1', undefined, never()));
    await buffer.close();
    expect(await reading).toEqual([]);
    await expect(buffer.open('k1')).rejects.toBeInstanceOf(StreamsFull);
  });
});
