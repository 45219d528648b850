import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { UsageLedger } from '../../../src/state/memory/usage-ledger.js';
import type { UsageRecord } from '../../../src/state/types.js';
import { usageRecord, waitFor } from './state-fixtures.js';

const root = await mkdtemp(path.join(tmpdir(), 'llm-router-ledger-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => path.join(root, `t${n++}`);

async function all(ledger: UsageLedger, q: Parameters<UsageLedger['query']>[0] = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const r of ledger.query(q)) out.push(r.requestId);
  return out;
}

describe('UsageLedger', () => {
  it('writes one file per UTC day of the record time and reads only the days in range', async () => {
    const dir = freshDir();
    const ledger = new UsageLedger({ dir });
    ledger.append(usageRecord({ requestId: 'a', time: '2026-03-01T23:59:59.999Z' }));
    ledger.append(usageRecord({ requestId: 'b', time: '2026-03-02T00:00:00.000Z' }));
    ledger.append(usageRecord({ requestId: 'c', time: '2026-03-03T08:00:00.000Z' }));
    await ledger.flush();
    expect((await readdir(dir)).sort()).toEqual(['usage-2026-03-01.jsonl', 'usage-2026-03-02.jsonl', 'usage-2026-03-03.jsonl']);
    expect(await all(ledger, { from: new Date('2026-03-02T00:00:00.000Z'), to: new Date('2026-03-03T00:00:00.000Z') })).toEqual(['b']);
    expect(await all(ledger)).toEqual(['a', 'b', 'c']);
  });

  it('continues a day in numbered parts past the size cap, and finds the last part after a restart', async () => {
    const dir = freshDir();
    const ledger = new UsageLedger({ dir, maxFileBytes: 1_000, batchRecords: 3 });
    for (let i = 0; i < 20; i++) ledger.append(usageRecord({ requestId: `r${i}` }));
    await ledger.close();
    const files = (await readdir(dir)).sort();
    expect(files.length).toBeGreaterThan(3);
    expect(files).toContain('usage-2026-03-01.1.jsonl');
    const restarted = new UsageLedger({ dir, maxFileBytes: 1_000 });
    restarted.append(usageRecord({ requestId: 'after' }));
    expect(await all(restarted)).toEqual([...Array.from({ length: 20 }, (_, i) => `r${i}`), 'after']);
    expect((await readdir(dir)).length).toBeLessThanOrEqual(files.length + 1);
  });

  it('batches appends on a timer without anyone calling flush', async () => {
    const dir = freshDir();
    const ledger = new UsageLedger({ dir, batchMs: 50 });
    ledger.append(usageRecord({ requestId: 'timer' }));
    expect(ledger.stats()).toMatchObject({ queued: 1, written: 0 });
    await waitFor(() => ledger.stats().written === 1, 2_000, 'the batch timer');
    expect(await readFile(path.join(dir, 'usage-2026-03-01.jsonl'), 'utf8')).toContain('"requestId":"timer"');
  });

  it('a full queue drops and counts, and logs once per period', async () => {
    const errors: object[] = [];
    const ledger = new UsageLedger({ dir: freshDir(), maxQueued: 5, batchMs: 10_000, logger: { info() {}, warn() {}, error: (o) => errors.push(o) } });
    for (let i = 0; i < 12; i++) ledger.append(usageRecord({ requestId: `d${i}` }));
    expect(ledger.stats()).toMatchObject({ queued: 5, dropped: 7 });
    expect(errors).toHaveLength(1);
    await ledger.close();
    expect(await all(ledger)).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
  });

  it('skips a torn last line (a crash mid-write) and keeps reading', async () => {
    const dir = freshDir();
    const ledger = new UsageLedger({ dir });
    ledger.append(usageRecord({ requestId: 'whole' }));
    await ledger.flush();
    await appendFile(path.join(dir, 'usage-2026-03-01.jsonl'), '{"time":"2026-03-01T12:00:00.000Z","requ');
    ledger.append(usageRecord({ requestId: 'next', time: '2026-03-02T00:00:00.000Z' }));
    expect(await all(ledger)).toEqual(['whole', 'next']);
  });

  it('never writes message text it was not given: records are written as they are', async () => {
    const dir = freshDir();
    const ledger = new UsageLedger({ dir });
    const record: UsageRecord = usageRecord({ requestId: 'exact', fallbacks: ['openai/gpt:timeout'], traffic: 'shadow', costUsd: null });
    ledger.append(record);
    const got: UsageRecord[] = [];
    for await (const r of ledger.query({})) got.push(r);
    expect(got).toEqual([record]);
  });
});

describe('UsageLedger group commit', () => {
  /** Counts FileHandle.sync calls (every fsync the ledger makes goes through one, the folder's too: a new file's directory entry is synced once). */
  async function countSyncs(): Promise<{ count: () => number; restore: () => void }> {
    const { open } = await import('node:fs/promises');
    const probe = await open(path.join(root, 'probe'), 'a');
    const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    const real = proto.sync;
    let n = 0;
    proto.sync = function (this: unknown) {
      n++;
      return real.call(this);
    };
    return { count: () => n, restore: () => void (proto.sync = real) };
  }

  it('writes every batch at once but fsyncs at most once per syncEveryMs, then on a timer, and close() syncs what is left', async () => {
    const syncs = await countSyncs();
    try {
      const dir = freshDir();
      const ledger = new UsageLedger({ dir, batchRecords: 1, syncEveryMs: 400 });
      for (let i = 0; i < 5; i++) {
        ledger.append(usageRecord({ requestId: `g${i}` }));
        await ledger.flush();
      }
      // Every record is in the file already (a process crash loses none of them)...
      expect((await readFile(path.join(dir, 'usage-2026-03-01.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(5);
      // ...but only the first batch was fsynced (and the new file's folder); the rest wait for the timer.
      expect(syncs.count()).toBe(2);
      await waitFor(() => syncs.count() === 3, 3_000, 'the group-commit timer');
      ledger.append(usageRecord({ requestId: 'last' }));
      await ledger.flush();
      const before = syncs.count();
      await ledger.close();
      expect(syncs.count()).toBeGreaterThanOrEqual(before);
      expect(await all(ledger)).toEqual(['g0', 'g1', 'g2', 'g3', 'g4', 'last']);
    } finally {
      syncs.restore();
    }
  });

  it('close() fsyncs a batch written since the last sync, and syncs each day file written', async () => {
    const syncs = await countSyncs();
    try {
      const dir = freshDir();
      const ledger = new UsageLedger({ dir, syncEveryMs: 60_000 });
      ledger.append(usageRecord({ requestId: 'a', time: '2026-03-01T23:59:59.000Z' }));
      await ledger.flush(); // synced: the first write (the file, then its folder)
      expect(syncs.count()).toBe(2);
      ledger.append(usageRecord({ requestId: 'b', time: '2026-03-01T23:59:59.500Z' }));
      ledger.append(usageRecord({ requestId: 'c', time: '2026-03-02T00:00:00.500Z' }));
      await ledger.flush(); // two files written, neither synced (within syncEveryMs); the new one's folder is
      expect(syncs.count()).toBe(3);
      await ledger.close();
      expect(syncs.count()).toBe(5);
    } finally {
      syncs.restore();
    }
  });

  it('syncEveryMs 0 fsyncs every batch', async () => {
    const syncs = await countSyncs();
    try {
      const ledger = new UsageLedger({ dir: freshDir(), batchRecords: 1, syncEveryMs: 0 });
      for (let i = 0; i < 3; i++) {
        ledger.append(usageRecord({ requestId: `s${i}` }));
        await ledger.flush();
      }
      expect(syncs.count()).toBe(4); // three batches and the new file's folder
      await ledger.close();
      expect(syncs.count()).toBe(4);
    } finally {
      syncs.restore();
    }
  });
});
