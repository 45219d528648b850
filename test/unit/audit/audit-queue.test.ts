import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { verifyAuditFiles } from '../../../src/audit/audit-verify.js';
import { cleanup, files, lines, open, records, tempDir, writeMany } from './audit-test-support.js';

afterEach(cleanup);

/** No timer flush during a test: only flush(), close() or a large batch write. */
const NEVER = 60_000;

describe('audit log: flush and close', () => {
  it('write() only queues; flush() resolves once what was written before it is on disk', async () => {
    const dir = tempDir('flush');
    const log = await open(dir, { flushIntervalMs: NEVER });
    await log.flush(); // nothing queued: at once
    writeMany(log, 3);
    expect(log.stats()).toMatchObject({ queued: 3, written: 0 });
    expect(await files(dir)).toEqual([]);
    await log.flush();
    expect(log.stats()).toMatchObject({ queued: 0, written: 3, seq: 3 });
    expect(lines((await files(dir))[0]!)).toHaveLength(3);
    await log.close();
  });

  it('writes on the interval without a flush()', async () => {
    const dir = tempDir('flush');
    const log = await open(dir, { flushIntervalMs: 20 });
    writeMany(log, 5);
    await vi.waitFor(() => expect(log.stats().written).toBe(5), { timeout: 2_000, interval: 10 });
    await log.close();
  });

  it('writes at once when a large batch is queued', async () => {
    const dir = tempDir('flush');
    const log = await open(dir, { flushIntervalMs: NEVER, flushBatchLines: 100 });
    writeMany(log, 99);
    await new Promise((r) => setTimeout(r, 50));
    expect(log.stats().written).toBe(0);
    writeMany(log, 1, 99);
    await vi.waitFor(() => expect(log.stats().written).toBe(100), { timeout: 2_000, interval: 10 });
    await log.close();
  });

  it('close() loses nothing: 5,000 lines written then closed are all on disk, in order', async () => {
    const dir = tempDir('close');
    const log = await open(dir, { flushIntervalMs: NEVER });
    writeMany(log, 5_000);
    await log.close();
    const recs = (await files(dir)).flatMap((f) => records(f));
    expect(recs).toHaveLength(5_000);
    expect(recs.every((r, i) => r.i === i && r.seq === i + 1)).toBe(true);
    expect(log.stats()).toMatchObject({ written: 5_000, queued: 0, dropped: 0 });
    expect(await verifyAuditFiles(await files(dir))).toMatchObject({ ok: true, lines: 5_000 });
    expect(log.write({ late: true })).toBe(false);
    await log.close(); // twice is fine
  });
});

describe('audit log: bounded queue', () => {
  it('drops and counts new records when full, then writes an audit_dropped line before the next record', async () => {
    const dir = tempDir('drop');
    const onDrop = vi.fn();
    const log = await open(dir, { flushIntervalMs: NEVER, maxQueue: 10, onDrop });
    const accepted = Array.from({ length: 15 }, (_, i) => log.write({ i }));
    expect(accepted).toEqual([...Array(10).fill(true), ...Array(5).fill(false)]);
    expect(log.stats()).toMatchObject({ dropped: 5, queued: 10 });
    expect(onDrop).toHaveBeenCalledTimes(5);
    expect(onDrop).toHaveBeenCalledWith(1);
    await log.flush();
    expect(log.write({ i: 15 })).toBe(true);
    await log.close();
    const recs = records((await files(dir))[0]!);
    expect(recs.map((r) => r.type ?? r.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 'audit_dropped', 15]);
    expect(recs[10]).toMatchObject({ seq: 11, type: 'audit_dropped', count: 5 });
    expect(await verifyAuditFiles(await files(dir))).toMatchObject({ ok: true, lines: 12 });
  });

  it('reports each run of drops with its own audit_dropped line, which takes a queue slot too', async () => {
    const dir = tempDir('drop');
    const log = await open(dir, { flushIntervalMs: NEVER, maxQueue: 2 });
    expect(['a', 'b', 'c'].map((k) => log.write({ k }))).toEqual([true, true, false]);
    await log.flush();
    // the marker and d fill the queue: e is dropped
    expect(['d', 'e'].map((k) => log.write({ k }))).toEqual([true, false]);
    await log.flush();
    expect(log.write({ k: 'f' })).toBe(true);
    await log.close();
    const recs = records((await files(dir))[0]!);
    expect(recs.map((r) => r.k ?? `${r.type as string}:${r.count as number}`)).toEqual(['a', 'b', 'audit_dropped:1', 'd', 'audit_dropped:1', 'f']);
    expect(log.stats()).toMatchObject({ dropped: 2, written: 6 });
  });
  it('bounds the queued bytes too (maxQueueBytes), always taking one record into an empty queue', async () => {
    const dir = tempDir('drop');
    const log = await open(dir, { flushIntervalMs: NEVER, maxQueueBytes: 1_000 });
    expect(log.write({ big: 'x'.repeat(5_000) })).toBe(true);
    expect(log.write({ small: 1 })).toBe(false);
    await log.flush();
    expect(log.write({ small: 2 })).toBe(true);
    await log.close();
    expect(log.stats()).toMatchObject({ dropped: 1, written: 3 });
  });
});

describe('audit log: disk errors', () => {
  it('a failing directory keeps the records queued, counts the error and retries until it works', async () => {
    const root = tempDir('diskerr');
    const dir = path.join(root, 'audit');
    const log = await open(dir, { flushIntervalMs: 10 });
    fs.rmSync(dir, { recursive: true }); // opening the first file now fails (ENOENT)
    writeMany(log, 20);
    await expect(log.flush()).rejects.toThrow(/ENOENT/);
    expect(log.stats()).toMatchObject({ queued: 20, written: 0 });
    expect(log.stats().diskErrors).toBeGreaterThan(0);
    fs.mkdirSync(dir, { mode: 0o700 });
    await vi.waitFor(() => expect(log.stats().written).toBe(20), { timeout: 5_000, interval: 20 });
    await log.close();
    expect(await verifyAuditFiles(await files(dir))).toMatchObject({ ok: true, lines: 20 });
  });

  it('ENOSPC mid-file: the file is abandoned and the chain goes on in a new file from chain_restart', async () => {
    const dir = tempDir('enospc');
    // The newest file is /dev/full: every append fails with ENOSPC, and it cannot be truncated.
    const full = path.join(dir, 'audit-2026-12-02.0001.jsonl');
    fs.symlinkSync('/dev/full', full);
    const log = await open(dir, { flushIntervalMs: 5, now: () => new Date('2026-12-02T10:00:00Z') });
    writeMany(log, 5);
    await expect(log.flush()).rejects.toThrow(/ENOSPC/);
    await vi.waitFor(() => expect(log.stats().written).toBe(6), { timeout: 5_000, interval: 20 });
    await log.close();
    const next = path.join(dir, 'audit-2026-12-02.0002.jsonl');
    const recs = records(next);
    expect(recs[0]).toMatchObject({ seq: 1, type: 'chain_restart', reason: 'write_error', file: path.basename(full) });
    expect(recs.slice(1).map((r) => r.i)).toEqual([0, 1, 2, 3, 4]);
    expect(log.stats().diskErrors).toBeGreaterThanOrEqual(2);
    expect(await verifyAuditFiles([next])).toMatchObject({ ok: true, lines: 6 });
  });
});
