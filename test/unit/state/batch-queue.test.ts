import { describe, expect, it } from 'vitest';
import { BatchQueue } from '../../../src/state/batch-queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
});
