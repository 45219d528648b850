import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { silentLogger } from '../../../src/state/state-logger.js';
import { createResumableStreams, wantsResumable, type ResumableStreams } from '../../../src/streams/resumable-stream.js';
import { createMemoryStreamBuffer, DONE, StreamsFull, type StreamBuffer } from '../../../src/streams/stream-buffer.js';
import { collect, config } from './stream-buffer-contract.js';

const flush = () => new Promise((r) => setImmediate(r));

describe('resumable streams: producer side', () => {
  let buffer: StreamBuffer;
  let streams: ResumableStreams;
  const make = (extra: Record<string, unknown> = {}, wrap: (b: StreamBuffer) => StreamBuffer = (b) => b) => {
    const cfg = config({ detachedTimeoutMs: 1_000, ...extra });
    buffer = wrap(createMemoryStreamBuffer(cfg));
    streams = createResumableStreams({ buffer, cfg, logger: silentLogger });
  };

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(async () => {
    streams.close();
    await buffer.close();
    vi.useRealTimers();
  });

  it('buffers writes in call order and answers their event ids', async () => {
    make();
    const s = await streams.begin('k1', () => {});
    const ids = await Promise.all(['a', 'b', 'c', DONE].map((d) => s.write(d))); // not awaited one by one
    expect(ids).toEqual([`${s.id}.1`, `${s.id}.2`, `${s.id}.3`, `${s.id}.4`]);
    await s.end();
    expect(await s.write('late')).toBeUndefined();
    expect((await collect(await buffer.read(s.id, 'k1', undefined, new AbortController().signal))).map((e) => e.data)).toEqual(['a', 'b', 'c', DONE]);
    expect(streams.active()).toBe(0);
  });

  it('aborts the upstream detachedTimeoutMs after the app left, not before', async () => {
    make();
    const abort = vi.fn();
    const s = await streams.begin('k1', abort);
    await s.write('a');
    s.detach();
    await vi.advanceTimersByTimeAsync(999);
    await flush();
    expect(abort).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(abort).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(abort).toHaveBeenCalledTimes(1);
  });

  it('does not abort while a resume reader is attached; detaching again restarts the timer', async () => {
    make();
    const abort = vi.fn();
    const s = await streams.begin('k1', abort);
    s.detach();
    await vi.advanceTimersByTimeAsync(500);
    s.attach();
    await vi.advanceTimersByTimeAsync(10_000);
    await flush();
    expect(abort).not.toHaveBeenCalled();
    s.detach();
    await vi.advanceTimersByTimeAsync(1_000);
    await flush();
    expect(abort).toHaveBeenCalledTimes(1);
  });

  it('keeps the upstream while a reader iterates the buffer elsewhere (hasReader)', async () => {
    let remote = true;
    make({}, (b) => ({ ...b, hasReader: async () => remote }));
    const abort = vi.fn();
    const s = await streams.begin('k1', abort);
    s.detach();
    await vi.advanceTimersByTimeAsync(3_500);
    await flush();
    expect(abort).not.toHaveBeenCalled();
    remote = false;
    await vi.advanceTimersByTimeAsync(1_000);
    await flush();
    expect(abort).toHaveBeenCalledTimes(1);
  });

  it('never aborts a stream that ended', async () => {
    make();
    const abort = vi.fn();
    const s = await streams.begin('k1', abort);
    s.detach();
    await s.write(DONE);
    await s.end();
    s.detach();
    s.attach();
    s.detach();
    await vi.advanceTimersByTimeAsync(10_000);
    await flush();
    expect(abort).not.toHaveBeenCalled();
  });

  it('aborts at once when nobody is attached and the buffer is full (no resume can reach the rest)', async () => {
    make({ maxStreamBytes: 10 });
    const abort = vi.fn();
    const s = await streams.begin('k1', abort);
    expect(await s.write('12345')).toBe(`${s.id}.1`);
    s.detach();
    expect(await s.write('1234567890')).toBeUndefined();
    expect(await s.write('x')).toBeUndefined();
    await vi.advanceTimersByTimeAsync(0);
    await flush();
    expect(abort).toHaveBeenCalledTimes(1);
  });

  it('goes on unbuffered when the buffer fails, and stops buffering for good (no gap in a resume)', async () => {
    let fail = false;
    make({}, (b) => ({ ...b, append: (id, d) => (fail ? Promise.reject(new Error('redis down')) : b.append(id, d)) }));
    const s = await streams.begin('k1', () => {});
    expect(await s.write('a')).toBe(`${s.id}.1`);
    fail = true;
    expect(await s.write('b')).toBeUndefined();
    fail = false;
    expect(await s.write('c')).toBeUndefined();
    await s.end();
  });

  it('serves at most maxStreams at once (StreamsFull), counting begins in progress', async () => {
    make({ maxStreams: 2 });
    const [a] = await Promise.all([streams.begin('k1', () => {}), streams.begin('k1', () => {}), expect(streams.begin('k1', () => {})).rejects.toBeInstanceOf(StreamsFull)]);
    await a!.end();
    await expect(streams.begin('k1', () => {})).resolves.toHaveProperty('id');
  });

  it('passes on a buffer that cannot open a stream', async () => {
    make({}, (b) => ({ ...b, open: () => Promise.reject(new Error('redis down')) }));
    await expect(streams.begin('k1', () => {})).rejects.toThrow('redis down');
    expect(streams.active()).toBe(0);
  });
});

describe('wantsResumable', () => {
  it('reads the header, else the route setting', () => {
    expect(wantsResumable({ 'x-router-resumable': 'true' })).toBe(true);
    expect(wantsResumable({ 'x-router-resumable': ' TRUE ' })).toBe(true);
    expect(wantsResumable({ 'x-router-resumable': 'false' }, true)).toBe(false);
    expect(wantsResumable({}, true)).toBe(true);
    expect(wantsResumable({})).toBe(false);
  });
});
