import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { sha256Hex } from '../../../src/audit/audit-chain.js';
import { verifyAuditFiles } from '../../../src/audit/audit-verify.js';
import { cleanup, files, lines, manualClock, open, records, tempDir, writeMany } from './audit-test-support.js';

afterEach(cleanup);

describe('audit log: restart', () => {
  it('a reopened log continues the chain (seq and prev) in the same file', async () => {
    const dir = tempDir('restart');
    const first = await open(dir);
    writeMany(first, 10);
    await first.close();
    const head = first.stats().head;
    const second = await open(dir);
    expect(second.stats()).toMatchObject({ seq: 10, head });
    writeMany(second, 10, 10);
    await second.close();
    const all = await files(dir);
    expect(all).toHaveLength(1);
    expect(records(all[0]!)[10]).toMatchObject({ seq: 11, prev: head, i: 10 });
    expect(await verifyAuditFiles(all)).toMatchObject({ ok: true, lines: 20, seq: 20 });
  });

  it('a reopened log on a later day goes on in a new file, chained to the last one', async () => {
    const dir = tempDir('restart');
    const clock = manualClock('2026-12-02T12:00:00.000Z');
    const first = await open(dir, { now: clock.now });
    writeMany(first, 3);
    await first.close();
    clock.set('2026-12-05T12:00:00.000Z');
    const second = await open(dir, { now: clock.now });
    writeMany(second, 3, 3);
    await second.close();
    expect((await files(dir)).map((f) => path.basename(f))).toEqual(['audit-2026-12-02.0001.jsonl', 'audit-2026-12-05.0001.jsonl']);
    expect(await verifyAuditFiles(await files(dir))).toMatchObject({ ok: true, files: 2, lines: 6 });
  });

  it('a torn last line (crash mid-append) is left in place; a new file opens with chain_restart', async () => {
    const dir = tempDir('torn');
    const first = await open(dir);
    writeMany(first, 10);
    await first.close();
    const [old] = await files(dir);
    const lastIntact = lines(old!)[9]!;
    fs.appendFileSync(old!, '{"seq":11,"prev":"0123'); // the crash
    const tornSize = fs.statSync(old!).size;

    const second = await open(dir);
    // the restart is recorded at once, before any new record
    await second.flush();
    expect(await files(dir)).toHaveLength(2);
    writeMany(second, 5, 10);
    await second.close();

    const all = await files(dir);
    expect(all.map((f) => path.basename(f))).toEqual([path.basename(old!), path.basename(old!).replace('.0001.', '.0002.')]);
    expect(fs.statSync(old!).size).toBe(tornSize); // evidence untouched
    const [restart, next] = records(all[1]!);
    expect(restart).toMatchObject({ seq: 11, prev: sha256Hex(lastIntact), type: 'chain_restart', reason: 'torn_tail', file: path.basename(old!), tornBytes: 22 });
    expect(next).toMatchObject({ seq: 12, i: 10 });

    // the whole directory verifies, showing the crash; the old file alone does not
    expect(await verifyAuditFiles(all)).toMatchObject({ ok: true, lines: 16, restarts: [{ file: old, line: 11, tornBytes: 22 }] });
    expect((await verifyAuditFiles([old!])).broken).toMatchObject({ file: old, line: 11, reason: expect.stringMatching(/^truncated line/) });

    // and a third open continues normally from the new file
    const third = await open(dir);
    expect(third.stats().seq).toBe(16);
    await third.close();
  });

  it('a torn line not followed by chain_restart stays broken', async () => {
    const dir = tempDir('torn');
    const log = await open(dir, { maxFileBytes: 1_000 });
    writeMany(log, 12);
    await log.close();
    const all = await files(dir);
    expect(all.length).toBeGreaterThan(1);
    const ls = lines(all[0]!);
    fs.writeFileSync(all[0]!, `${ls.slice(0, -1).join('\n')}\n${ls.at(-1)!.slice(0, 30)}`);
    expect((await verifyAuditFiles(all)).broken).toMatchObject({ file: all[0], line: ls.length, reason: expect.stringMatching(/^truncated line/) });
  });

  it('a directory with only a torn first line starts the chain from genesis with chain_restart', async () => {
    const dir = tempDir('torn');
    fs.writeFileSync(path.join(dir, 'audit-2026-12-01.0001.jsonl'), '{"seq":1,"pr');
    const log = await open(dir);
    writeMany(log, 2);
    await log.close();
    const all = await files(dir);
    expect(records(all[1]!)[0]).toMatchObject({ seq: 1, type: 'chain_restart' });
    expect(await verifyAuditFiles(all)).toMatchObject({ ok: true, lines: 3, start: { genesis: true }, restarts: [{ line: 1 }] });
  });
});
