import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { runAuditVerify } from '../../../src/audit/audit-verify-cli.js';
import { cleanup, files, lines, open, rewrite, tempDir, writeMany } from './audit-test-support.js';

afterEach(cleanup);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

async function makeDir(n = 30, maxFileBytes = 2_000): Promise<{ dir: string; all: string[] }> {
  const dir = tempDir('cli');
  const log = await open(dir, { maxFileBytes });
  writeMany(log, n);
  await log.close();
  return { dir, all: await files(dir) };
}

async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAuditVerify(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('audit-verify CLI', () => {
  it('exit 0 with a summary line when the chain is intact (files or a directory)', async () => {
    const { dir, all } = await makeDir();
    const byFiles = await run('--', ...all);
    expect(byFiles.code).toBe(0);
    expect(byFiles.out).toEqual([expect.stringMatching(new RegExp(`^ok: ${all.length} file\\(s\\), 30 line\\(s\\) intact from genesis, seq 30, head [0-9a-f]{64}$`))]);
    expect((await run(dir)).out).toEqual(byFiles.out);
  });

  it('exit 1 naming the first broken file and line and why', async () => {
    const { all } = await makeDir();
    const ls = lines(all[1]!);
    rewrite(all[1]!, ls.filter((_, i) => i !== 2));
    const r = await run(...all);
    expect(r.code).toBe(1);
    expect(r.err[0]).toBe(`BROKEN ${all[1]}:3: sequence gap: expected seq ${JSON.parse(ls[2]!).seq}, found ${JSON.parse(ls[3]!).seq}`);
  });

  it('--json prints the VerifyResult', async () => {
    const { all } = await makeDir(5);
    const r = await run('--json', all[0]!);
    expect(JSON.parse(r.out[0]!)).toMatchObject({ ok: true, files: 1, lines: 5 });
  });

  it('exit 2 on usage errors: no files, an unknown option, a missing file, a directory without audit files', async () => {
    expect((await run()).code).toBe(2);
    expect((await run('--frobnicate', 'x')).code).toBe(2);
    const missing = await run('/nonexistent/audit-2026-12-02.0001.jsonl');
    expect(missing).toMatchObject({ code: 2, err: [expect.stringMatching(/no such file/)] });
    expect((await run(tempDir('empty'))).code).toBe(2);
  });

  it('as a script (tsx scripts/audit-verify.ts): exit codes 0 and 1', async () => {
    const good = await makeDir(10);
    const bad = await makeDir(10);
    const ls = lines(bad.all[0]!);
    ls[4] = ls[4]!.replace('"status":200', '"status":201');
    rewrite(bad.all[0]!, ls);
    const [ok, broken] = await Promise.all([spawnVerify(good.dir), spawnVerify(...bad.all)]);
    expect(ok).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ok: 1 file\(s\), 10 line\(s\)/) });
    expect(broken).toMatchObject({ code: 1, stderr: expect.stringContaining(`BROKEN ${bad.all[0]}:5: hash mismatch`) });
  }, 60_000);
});

function spawnVerify(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['tsx', 'scripts/audit-verify.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
