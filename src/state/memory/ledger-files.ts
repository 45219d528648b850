import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';

import type { UsageRecord } from '../types.js';

/** `usage-2026-12-01.jsonl`, then `usage-2026-12-01.1.jsonl`, `.2`, … once the size cap is reached. */
const FILE_RE = /^usage-(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.jsonl$/;

/** One ledger file: its UTC day and its rotation index within the day. */
export interface LedgerFile {
  day: string;
  index: number;
  path: string;
}

/** The file name of a day's `index`-th part. */
export function ledgerFileName(day: string, index: number): string {
  return index === 0 ? `usage-${day}.jsonl` : `usage-${day}.${index}.jsonl`;
}

/** The UTC day (YYYY-MM-DD) a record belongs to: its own time, or now when that is unreadable. */
export function dayOf(timeMs: number): string {
  return new Date(Number.isFinite(timeMs) ? timeMs : Date.now()).toISOString().slice(0, 10);
}

/** Ledger files in `dir`, oldest day first and parts in order; none when the folder does not exist yet. */
export async function listLedgerFiles(dir: string): Promise<LedgerFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files: LedgerFile[] = [];
  for (const name of names) {
    const m = FILE_RE.exec(name);
    if (m) files.push({ day: m[1]!, index: m[2] === undefined ? 0 : Number(m[2]), path: path.join(dir, name) });
  }
  return files.sort((a, b) => (a.day === b.day ? a.index - b.index : a.day < b.day ? -1 : 1));
}

/**
 * Records of one file, in append order. A line that does not parse (the torn tail of a crash
 * mid-write) is skipped, not fatal: the rest of the ledger stays readable.
 */
export async function* readLedgerFile(file: string): AsyncGenerator<UsageRecord> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line.length === 0) continue;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof record === 'object' && record !== null) yield record as UsageRecord;
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}
