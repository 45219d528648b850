/**
 * What every StreamBuffer promises, run against memory and the real Redis: the backlog and the
 * live tail each event exactly once and in order, owners apart, the byte cap sealing the stream.
 */
import { describe, expect, it } from 'vitest';

import { BUFFER_FULL_EVENT, DONE, StreamBufferFull, StreamNotWritable, type StreamBuffer, type StreamEvent } from '../../../src/streams/stream-buffer.js';
import { streamsSchema, type StreamsConfig } from '../../../src/streams/streams-schema.js';

export interface BufferContractOptions {
  name: string;
  /** A fresh buffer; `peer` (when given) reads the same streams from another "instance". */
  make(cfg: StreamsConfig): Promise<{ buffer: StreamBuffer; peer?: StreamBuffer }>;
}

export const config = (extra: Record<string, unknown> = {}): StreamsConfig => streamsSchema.parse(extra);

/** A small seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function collect(it: AsyncIterable<StreamEvent> | undefined): Promise<StreamEvent[]> {
  if (!it) throw new Error('no stream');
  const out: StreamEvent[] = [];
  for await (const ev of it) out.push(ev);
  return out;
}

const never = () => new AbortController().signal;
const tick = () => new Promise((r) => setImmediate(r));

/** The events a reader starting after `after` must see, ids and data, when the stream had `n` events and [DONE]. */
function expected(after: number, n: number): StreamEvent[] {
  const out: StreamEvent[] = [];
  for (let i = after + 1; i <= n + 1; i++) out.push({ id: String(i), data: i <= n ? `e${i}` : DONE });
  return out;
}

export function describeBufferContract(o: BufferContractOptions): void {
  describe(`stream buffer contract: ${o.name}`, () => {
    const open = async (extra: Record<string, unknown> = {}) => o.make(config(extra));

    it('reads from the start, after an id and past the end', async () => {
      const { buffer } = await open();
      const { id } = await buffer.open('k1');
      expect(id).toMatch(/^strm_[A-Za-z0-9_-]{22}$/);
      expect(await buffer.append(id, 'e1')).toBe('1');
      expect(await buffer.append(id, 'e2')).toBe('2');
      expect(await buffer.append(id, 'e3')).toBe('3');
      expect(await buffer.append(id, DONE)).toBe('4');
      await buffer.end(id);
      expect(await collect(await buffer.read(id, 'k1', undefined, never()))).toEqual(expected(0, 3));
      expect(await collect(await buffer.read(id, 'k1', '0', never()))).toEqual(expected(0, 3));
      expect(await collect(await buffer.read(id, 'k1', '2', never()))).toEqual(expected(2, 3));
      expect(await collect(await buffer.read(id, 'k1', '4', never()))).toEqual([]);
      expect(await collect(await buffer.read(id, 'k1', '99', never()))).toEqual([]);
    });

    it('follows the live tail until [DONE]', async () => {
      const { buffer } = await open();
      const { id } = await buffer.open('k1');
      await buffer.append(id, 'e1');
      const reading = collect(await buffer.read(id, 'k1', undefined, never()));
      for (let i = 2; i <= 5; i++) {
        await new Promise((r) => setTimeout(r, 5));
        await buffer.append(id, `e${i}`);
      }
      await buffer.append(id, DONE);
      expect(await reading).toEqual(expected(0, 5));
      await buffer.end(id);
    });

    it('gives every reader each event exactly once, in order, wherever it starts (backlog/live boundary)', async () => {
      const seed = Date.now() % 1_000_000;
      const rand = prng(seed);
      const { buffer, peer } = await open();
      const n = 120;
      const { id } = await buffer.open('k1');
      const readers: Array<Promise<{ after: number; got: StreamEvent[] }>> = [];
      const appends: Array<Promise<string>> = [];
      const start = (after: number, from: StreamBuffer) =>
        readers.push(
          (async () => {
            const it = await from.read(id, 'k1', after === 0 && rand() < 0.5 ? undefined : String(after), never());
            return { after, got: await collect(it) };
          })(),
        );
      for (let i = 1; i <= n + 1; i++) {
        // Half the readers start exactly at the last event appended: the live boundary.
        if (rand() < 0.2) start(rand() < 0.5 ? i - 1 : Math.floor(rand() * i), peer && rand() < 0.5 ? peer : buffer);
        // Appends in call order, sometimes several before any reader runs (a burst of one upstream packet).
        appends.push(buffer.append(id, i <= n ? `e${i}` : DONE));
        const pause = rand();
        if (pause < 0.5) continue;
        await Promise.all(appends);
        if (pause < 0.8) await tick();
        else if (pause < 0.9) await new Promise((r) => setTimeout(r, Math.floor(rand() * 4)));
      }
      expect(await Promise.all(appends)).toEqual(expected(0, n).map((e) => e.id));
      await buffer.end(id);
      start(n, buffer);
      start(0, peer ?? buffer);
      const results = await Promise.all(readers);
      expect(results.length).toBeGreaterThan(5);
      for (const r of results) expect(r.got, `seed ${seed}, reader after ${r.after}`).toEqual(expected(r.after, n));
    });

    it('answers undefined for another owner\'s stream and for a missing one', async () => {
      const { buffer, peer } = await open();
      const { id } = await buffer.open('k1');
      await buffer.append(id, 'e1');
      expect(await buffer.read(id, 'k2', undefined, never())).toBeUndefined();
      expect(await (peer ?? buffer).read(id, 'k2', undefined, never())).toBeUndefined();
      expect(await buffer.read('strm_AAAAAAAAAAAAAAAAAAAAAA', 'k1', undefined, never())).toBeUndefined();
      expect(await buffer.read('not-an-id', 'k1', undefined, never())).toBeUndefined();
      await buffer.append(id, DONE);
      await buffer.end(id);
    });

    it('rejects a malformed event id', async () => {
      const { buffer } = await open();
      const { id } = await buffer.open('k1');
      for (const bad of ['', '-1', '1.5', 'abc', '01', '1-0']) await expect(buffer.read(id, 'k1', bad, never())).rejects.toThrow(RangeError);
      await buffer.end(id);
    });

    it('seals a stream past maxStreamBytes: readers end with the buffer-full event, later appends throw', async () => {
      const { buffer } = await open({ maxStreamBytes: 100 });
      const { id } = await buffer.open('k1');
      const live = collect(await buffer.read(id, 'k1', undefined, never()));
      expect(await buffer.append(id, 'x'.repeat(60))).toBe('1');
      expect(await buffer.append(id, 'é'.repeat(20))).toBe('2'); // 40 bytes: 100 in all, still fits
      await expect(buffer.append(id, 'y')).rejects.toBeInstanceOf(StreamBufferFull);
      await expect(buffer.append(id, DONE)).rejects.toBeInstanceOf(StreamBufferFull);
      await buffer.end(id);
      const want = [
        { id: '1', data: 'x'.repeat(60) },
        { id: '2', data: 'é'.repeat(20) },
        { id: '3', data: BUFFER_FULL_EVENT },
        { id: '4', data: DONE },
      ];
      expect(await live).toEqual(want);
      expect(await collect(await buffer.read(id, 'k1', '1', never()))).toEqual(want.slice(1));
      expect(JSON.parse(BUFFER_FULL_EVENT).error.code).toBe('stream_buffer_full');
    });

    it('refuses appends to an ended or unknown stream', async () => {
      const { buffer } = await open();
      const { id } = await buffer.open('k1');
      await buffer.append(id, DONE);
      await buffer.end(id);
      await buffer.end(id); // idempotent
      await expect(buffer.append(id, 'late')).rejects.toBeInstanceOf(StreamNotWritable);
      await expect(buffer.append('strm_BBBBBBBBBBBBBBBBBBBBBB', 'x')).rejects.toBeInstanceOf(StreamNotWritable);
      await buffer.end('strm_BBBBBBBBBBBBBBBBBBBBBB'); // ignored
    });

    it('ends a reader that has caught up when the stream ends without [DONE]', async () => {
      const { buffer } = await open();
      const { id } = await buffer.open('k1');
      await buffer.append(id, 'e1');
      const reading = collect(await buffer.read(id, 'k1', undefined, never()));
      await new Promise((r) => setTimeout(r, 20));
      await buffer.append(id, 'e2');
      await buffer.end(id);
      expect(await reading).toEqual([
        { id: '1', data: 'e1' },
        { id: '2', data: 'e2' },
      ]);
    });

    it('stops a waiting reader when its signal aborts, and tells who is reading', async () => {
      const { buffer, peer } = await open();
      const { id } = await buffer.open('k1');
      await buffer.append(id, 'e1');
      expect(await buffer.hasReader(id)).toBe(false);
      const ctl = new AbortController();
      const got: StreamEvent[] = [];
      const it = await (peer ?? buffer).read(id, 'k1', undefined, ctl.signal);
      const reading = (async () => {
        for await (const ev of it!) got.push(ev);
      })();
      await new Promise((r) => setTimeout(r, 50));
      expect(got).toEqual([{ id: '1', data: 'e1' }]);
      expect(await buffer.hasReader(id)).toBe(true);
      const t0 = performance.now();
      ctl.abort();
      await reading;
      expect(performance.now() - t0).toBeLessThan(500);
      await buffer.append(id, DONE);
      await buffer.end(id);
    });

    it('opens a stream under a given id once', async () => {
      const { buffer } = await open();
      const id = 'strm_CCCCCCCCCCCCCCCCCCCCCC';
      expect(await buffer.open('k1', { id })).toEqual({ id });
      await expect(buffer.open('k1', { id })).rejects.toThrow(/exists/);
      await buffer.end(id);
    });
  });
}
