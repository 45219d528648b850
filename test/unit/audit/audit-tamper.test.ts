import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { verifyAuditFiles } from '../../../src/audit/audit-verify.js';
import { cleanup, files, lines, open, rewrite, tempDir, writeMany } from './audit-test-support.js';

afterEach(cleanup);

/** 20 lines in one file, or 3 files of ~7 lines with `maxFileBytes`. */
async function makeLog(maxFileBytes?: number): Promise<string[]> {
  const dir = tempDir('tamper');
  const log = await open(dir, maxFileBytes ? { maxFileBytes } : {});
  writeMany(log, 20);
  await log.close();
  return files(dir);
}

describe('verifyAuditFiles: tampering is named with its 1-based line', () => {
  let file: string;
  let original: string[];
  beforeEach(async () => {
    [file] = (await makeLog()) as [string];
    original = lines(file);
    expect(await verifyAuditFiles([file])).toMatchObject({ ok: true, lines: 20 });
  });

  it('a field edited in a middle line: that line, hash mismatch', async () => {
    const ls = [...original];
    ls[6] = ls[6]!.replace('"status":200', '"status":500');
    rewrite(file, ls);
    const r = await verifyAuditFiles([file]);
    expect(r).toMatchObject({ ok: false, lines: 7, broken: { file, line: 7, reason: expect.stringMatching(/^hash mismatch/) } });
  });

  it('the first line edited: line 1', async () => {
    const ls = [...original];
    ls[0] = ls[0]!.replace('"route":"chat"', '"route":"embed"');
    rewrite(file, ls);
    expect((await verifyAuditFiles([file])).broken).toMatchObject({ line: 1, reason: expect.stringMatching(/^hash mismatch/) });
  });

  it('a prev field rewritten: that line, prev mismatch', async () => {
    const ls = [...original];
    ls[9] = ls[9]!.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${'0'.repeat(64)}"`);
    rewrite(file, ls);
    expect((await verifyAuditFiles([file])).broken).toMatchObject({ line: 10, reason: expect.stringMatching(/^prev mismatch/) });
  });

  it('a line deleted: the line now in its place, sequence gap', async () => {
    rewrite(file, original.filter((_, i) => i !== 11));
    expect((await verifyAuditFiles([file])).broken).toMatchObject({ file, line: 12, reason: 'sequence gap: expected seq 12, found 13' });
  });

  it('two lines swapped: the first of them, sequence gap', async () => {
    const ls = [...original];
    [ls[4], ls[5]] = [ls[5]!, ls[4]!];
    rewrite(file, ls);
    expect((await verifyAuditFiles([file])).broken).toMatchObject({ line: 5, reason: 'sequence gap: expected seq 5, found 6' });
  });

  it('a line repeated: sequence out of order', async () => {
    const ls = [...original];
    ls.splice(8, 0, ls[3]!);
    rewrite(file, ls);
    expect((await verifyAuditFiles([file])).broken).toMatchObject({ line: 9, reason: 'sequence out of order: expected seq 9, found 4' });
  });

  it('the last line truncated: that line, truncated', async () => {
    fs.truncateSync(file, fs.statSync(file).size - 7);
    const r = await verifyAuditFiles([file]);
    expect(r).toMatchObject({ ok: false, lines: 19, broken: { file, line: 20, reason: expect.stringMatching(/^truncated line/) } });
  });

  it('only the final newline removed: still a truncated line', async () => {
    fs.truncateSync(file, fs.statSync(file).size - 1);
    expect((await verifyAuditFiles([file])).broken).toMatchObject({ line: 20, reason: expect.stringMatching(/^truncated line/) });
  });

  it('a line that is not JSON, or not a chain line: bad JSON', async () => {
    const ls = [...original];
    ls[2] = '{"seq":3,"prev":';
    rewrite(file, ls);
    expect((await verifyAuditFiles([file])).broken).toMatchObject({ line: 3, reason: expect.stringMatching(/^bad JSON/) });
    ls[2] = '{"type":"request"}';
    rewrite(file, ls);
    expect((await verifyAuditFiles([file])).broken).toMatchObject({ line: 3, reason: 'bad JSON: missing or invalid "seq"' });
  });

  it('a forged genesis: the first line must point at GENESIS_PREV', async () => {
    const ls = [...original];
    ls[0] = ls[0]!.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${'a'.repeat(64)}"`);
    rewrite(file, ls);
    expect((await verifyAuditFiles([file])).broken).toMatchObject({ line: 1, reason: expect.stringMatching(/^prev mismatch.*genesis/) });
  });
});

describe('verifyAuditFiles across files', () => {
  it('the last line of a middle file edited: named in that file', async () => {
    const all = await makeLog(1_400);
    expect(all.length).toBe(3);
    const ls = lines(all[1]!);
    ls[ls.length - 1] = ls[ls.length - 1]!.replace('"latencyMs":12.5', '"latencyMs":1');
    rewrite(all[1]!, ls);
    expect((await verifyAuditFiles(all)).broken).toMatchObject({ file: all[1], line: ls.length, reason: expect.stringMatching(/^hash mismatch/) });
  });

  it('a middle file missing: the next file is a sequence gap at its line 1', async () => {
    const all = await makeLog(1_400);
    const r = await verifyAuditFiles([all[0]!, all[2]!]);
    expect(r.broken).toMatchObject({ file: all[2], line: 1, reason: expect.stringMatching(/^sequence gap.*consecutive/) });
  });

  it('a later file alone: checked within itself, reporting where it starts', async () => {
    const all = await makeLog(1_400);
    const first = JSON.parse(lines(all[1]!)[0]!) as { seq: number; prev: string };
    const r = await verifyAuditFiles([all[1]!]);
    expect(r).toMatchObject({ ok: true, files: 1, start: { file: all[1], seq: first.seq, prev: first.prev, genesis: false } });
    const whole = await verifyAuditFiles(all);
    expect(whole).toMatchObject({ ok: true, files: 3, lines: 20, seq: 20 });
  });
});
