import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { listAuditFiles } from './audit-recover.js';
import { verifyAuditFiles, type VerifyResult } from './audit-verify.js';

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

const USAGE = `usage: audit-verify [--json] FILE|DIR...
  Verifies the hash chain of audit log files (a directory stands for its audit-*.jsonl files).
  Exit 0: every chain intact; 1: a line is broken (named with file and line); 2: usage error.`;

/** `npm run audit:verify -- FILE...`; returns the exit code. */
export async function runAuditVerify(argv: readonly string[], io: CliOutput): Promise<number> {
  let values: { json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv.filter((a) => a !== '--'),
      options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    io.err(`audit-verify: ${(err as Error).message}`);
    io.err(USAGE);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (positionals.length === 0) {
    io.err('audit-verify: no files given');
    io.err(USAGE);
    return 2;
  }
  const files: string[] = [];
  for (const arg of positionals) {
    try {
      if ((await stat(arg)).isDirectory()) files.push(...(await listAuditFiles(arg)));
      else files.push(arg);
    } catch (err) {
      io.err(`audit-verify: ${arg}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
      return 2;
    }
  }
  if (files.length === 0) {
    io.err(`audit-verify: no audit-*.jsonl files in ${positionals.join(', ')}`);
    return 2;
  }
  let result: VerifyResult;
  try {
    result = await verifyAuditFiles(files);
  } catch (err) {
    io.err(`audit-verify: ${(err as Error).message}`);
    return 2;
  }
  if (values.json) io.out(JSON.stringify(result));
  else report(result, io);
  return result.ok ? 0 : 1;
}

function report(r: VerifyResult, io: CliOutput): void {
  for (const x of r.restarts) io.out(`note: ${x.file}:${x.line}: torn line (${x.tornBytes} bytes) from a crash; the chain goes on from a chain_restart record`);
  if (r.broken) {
    io.err(`BROKEN ${r.broken.file}:${r.broken.line}: ${r.broken.reason}`);
    io.err(`(${r.lines} line(s) intact before it, in ${r.files} file(s) read)`);
    return;
  }
  const from = r.start ? (r.start.genesis ? 'from genesis' : `from seq ${r.start.seq} (prev ${r.start.prev}) in ${path.basename(r.start.file)}`) : 'no lines';
  const head = r.head ? `, seq ${r.seq}, head ${r.head}` : '';
  io.out(`ok: ${r.files} file(s), ${r.lines} line(s) intact ${from}${head}`);
}
