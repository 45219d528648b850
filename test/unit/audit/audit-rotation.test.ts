import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { GENESIS_PREV, sha256Hex } from '../../../src/audit/audit-chain.js';
import { verifyAuditFiles } from '../../../src/audit/audit-verify.js';
import { cleanup, files, lines, manualClock, open, records, tempDir, writeMany } from './audit-test-support.js';

afterEach(cleanup);

describe('audit log: line format and chain', () => {
  it('writes seq, prev and ts in front of the record fields, chained by sha256 of each line', async () => {
    const dir = path.join(tempDir(), 'audit'); // created by openAuditLog
    const clock = manualClock();
    const log = await open(dir, { now: clock.now });
    log.write({ type: 'request', id: 'r1', model: 'gpt-4o' });
    log.write({ type: 'filter', ts: '2026-01-01T00:00:00.000Z', action: 'block' });
    await log.close();
    const [file] = await files(dir);
    expect(path.basename(file!)).toBe('audit-2026-12-02.0001.jsonl');
    expect((fs.statSync(file!).mode & 0o777).toString(8)).toBe('600');
    expect((fs.statSync(dir).mode & 0o777).toString(8)).toBe('700');
    const [l1, l2] = lines(file!);
    expect(l1).toBe(`{"seq":1,"prev":"${GENESIS_PREV}","ts":"2026-12-02T10:00:00.000Z","type":"request","id":"r1","model":"gpt-4o"}`);
    expect(l2).toBe(`{"seq":2,"prev":"${sha256Hex(l1!)}","ts":"2026-01-01T00:00:00.000Z","type":"filter","action":"block"}`);
  });

  it('keeps the chain fields its own: a record cannot set seq or prev', async () => {
    const dir = tempDir();
    const log = await open(dir);
    log.write({ seq: 99, prev: 'x', type: 'request' });
    await log.close();
    const [rec] = records((await files(dir))[0]!);
    expect(rec).toMatchObject({ seq: 1, prev: GENESIS_PREV, type: 'request' });
    expect((await verifyAuditFiles(await files(dir))).ok).toBe(true);
  });

  it('refuses a record that does not serialise, without throwing', async () => {
    const log = await open(tempDir());
    expect(log.write({ n: 1n })).toBe(false);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(log.write(cyclic)).toBe(false);
    expect(log.stats().rejected).toBe(2);
    await log.close();
  });
});

describe('audit log: rotation', () => {
  it('rotates by size: no file grows past maxFileBytes, and the chain runs across all of them', async () => {
    const dir = tempDir();
    const log = await open(dir, { maxFileBytes: 2_000 });
    writeMany(log, 200);
    await log.flush();
    writeMany(log, 100, 200);
    await log.close();
    const all = await files(dir);
    expect(all.length).toBeGreaterThan(10);
    for (const f of all) expect(fs.statSync(f).size).toBeLessThanOrEqual(2_000);
    expect(all.map((f) => path.basename(f)).slice(0, 2)).toEqual([expect.stringMatching(/\.0001\.jsonl$/), expect.stringMatching(/\.0002\.jsonl$/)]);
    // each file's first line points at the previous file's last line
    for (let i = 1; i < all.length; i++) expect(records(all[i]!)[0]!.prev).toBe(sha256Hex(lines(all[i - 1]!).at(-1)!));
    const result = await verifyAuditFiles([...all].reverse()); // given in any order
    expect(result).toMatchObject({ ok: true, files: all.length, lines: 300, seq: 300, start: { genesis: true } });
    expect(log.stats()).toMatchObject({ written: 300, queued: 0, seq: 300, head: result.head });
  });

  it('puts a line larger than maxFileBytes alone in its own file', async () => {
    const dir = tempDir();
    const log = await open(dir, { maxFileBytes: 500 });
    log.write({ small: 1 });
    log.write({ big: 'x'.repeat(2_000) });
    log.write({ small: 2 });
    await log.close();
    expect((await files(dir)).map((f) => lines(f).length)).toEqual([1, 1, 1]);
    expect((await verifyAuditFiles(await files(dir))).ok).toBe(true);
  });

  it('rotates when the UTC day changes, numbering from 0001 each day, and never back to an earlier day', async () => {
    const dir = tempDir();
    const clock = manualClock('2026-12-02T23:59:59.900Z');
    const log = await open(dir, { now: clock.now, maxFileBytes: 1_500 });
    writeMany(log, 3);
    clock.set('2026-12-03T00:00:00.100Z');
    writeMany(log, 10, 3); // ~180 bytes a line: past 1_500 bytes, a second file of the 3rd
    await log.flush();
    clock.set('2026-12-02T23:59:00.000Z'); // the clock steps back: stay on the 3rd
    writeMany(log, 2, 13);
    clock.set('2026-12-04T08:00:00.000Z');
    writeMany(log, 2, 15);
    await log.close();
    const names = (await files(dir)).map((f) => path.basename(f));
    expect(names).toEqual(['audit-2026-12-02.0001.jsonl', 'audit-2026-12-03.0001.jsonl', 'audit-2026-12-03.0002.jsonl', 'audit-2026-12-04.0001.jsonl']);
    expect(lines(path.join(dir, names[0]!))).toHaveLength(3);
    expect(records(path.join(dir, names[3]!)).map((r) => r.i)).toEqual([15, 16]);
    expect(records(path.join(dir, names[2]!)).map((r) => r.i)).toEqual([11, 12, 13, 14]);
    expect(await verifyAuditFiles(await files(dir))).toMatchObject({ ok: true, files: 4, lines: 17 });
  });
});
