import { describe, expect, it } from 'vitest';
import { BatchQueue } from '../../../src/state/batch-queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A queue whose writer holds each batch until `release()`; `batches` lists what was written. */
function gatedQueue(options: { intervalMs: number; maxBatch?: number }) {
  const batches: number[][] = [];
  let gate: () => void = () => {};
  const q = new BatchQueue<number>({
    name: 'test',
    ...options,
    write: async (batch) => {
      await new Promise<void>((r) => (gate = r));
      batches.push(batch);
    },
  });
  return { q, batches, release: () => gate() };
}

describe('BatchQueue', () => {
  it('keeps writing after a timer fires with nothing left to write (an earlier drain took it)', async () => {
    const written: number[] = [];
    let release: () => void = () => {};
    let slow = true;
    const q = new BatchQueue<number>({
      name: 'test',
      intervalMs: 20,
      write: async (batch) => {
        if (slow) await new Promise<void>((r) => (release = r));
        written.push(...batch);
      },
    });
    q.push(1);
    await sleep(30); // the first batch is being written (slowly)
    q.push(2); // arms a timer; the running drain picks 2 up before it fires
    slow = false;
    release();
    await sleep(60); // the timer fires on an empty queue
    q.push(3);
    await sleep(60);
    expect(written).toEqual([1, 2, 3]);
    // flush settles (it used to spin on a settled `draining` promise forever).
    await Promise.race([q.flush(), sleep(500).then(() => Promise.reject(new Error('flush hung')))]);
  });

  it('gives what arrives during a write its own interval, not a batch right after the write', async () => {
    const batches: number[][] = [];
    const q = new BatchQueue<number>({
      name: 'test',
      intervalMs: 150,
      write: async (batch) => {
        await sleep(40);
        batches.push(batch);
      },
    });
    q.push(1);
    await sleep(170); // the first batch is being written
    q.push(2);
    q.push(3);
    await sleep(100); // the write ended ~60 ms ago: 2 and 3 wait for their interval
    expect(batches).toEqual([[1]]);
    await sleep(200);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it('writes a full batch that filled during a write at once, and flush takes everything', async () => {
    const { q, batches, release } = gatedQueue({ intervalMs: 10_000, maxBatch: 2 });
    q.push(1);
    q.push(2); // a full batch: written at once
    await sleep(20);
    q.push(3);
    q.push(4); // full again while the first is being written
    q.push(5);
    release();
    await sleep(20);
    expect(batches).toEqual([[1, 2]]);
    release(); // [3, 4] was taken on without waiting for the interval
    await sleep(20);
    expect(batches).toEqual([[1, 2], [3, 4]]);
    // 5 waits for its interval (10 s) unless flushed: flush writes it now.
    const flushed = q.flush();
    await sleep(20);
    release();
    await flushed;
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
    expect(q.stats()).toMatchObject({ queued: 0, written: 5 });
  });

  it('flush during a running write also writes what came in meanwhile', async () => {
    const { q, batches, release } = gatedQueue({ intervalMs: 10 });
    q.push(1);
    await sleep(30); // writing [1]
    q.push(2);
    const flushed = q.flush();
    release();
    await sleep(10);
    release();
    await flushed;
    expect(batches).toEqual([[1], [2]]);
  });
});
