import { open, readdir } from 'node:fs/promises';
import path from 'node:path';

import { chainFields, GENESIS_HEAD, sha256Hex, type ChainHead } from './audit-chain.js';
import { compareAuditFiles, parseAuditFileName, type AuditFileName } from './audit-file-name.js';

/** Why the chain cannot simply go on in the newest file. */
export interface ChainBreak {
  /** `torn_tail`: the newest file ends in a partial line (a crash mid-append);
   * `unreadable_tail`: its last complete line is not a chain line. */
  reason: 'torn_tail' | 'unreadable_tail';
  /** The file (base name) whose tail it is. */
  file: string;
  /** Bytes after the last "\n" (torn_tail). */
  tornBytes?: number;
}

/** Where a restarted process picks the chain up. */
export interface RecoveredChain {
  /** seq and hash of the last complete line in the directory (GENESIS_HEAD when there is none). */
  head: ChainHead;
  /** The newest audit file, to append to (when `restart` is unset) or to number the next one after. */
  newest?: { file: string; name: AuditFileName; size: number };
  /** Set when the next line must open a new file with a `chain_restart` record. */
  restart?: ChainBreak;
}

/** Audit files of `dir` (full paths) in chain order. */
export async function listAuditFiles(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => parseAuditFileName(n) !== undefined);
  return names.sort(compareAuditFiles).map((n) => path.join(dir, n));
}

/**
 * Reads the tails of the newest files (newest first, skipping files without a complete line)
 * to find the chain head. Bytes after a file's last "\n" are a torn line: never appended to, so
 * the evidence stays where it is and the verifier can tell a crash from tampering.
 */
export async function recoverChain(dir: string): Promise<RecoveredChain> {
  const files = await listAuditFiles(dir);
  if (files.length === 0) return { head: GENESIS_HEAD };
  const newestFile = files[files.length - 1]!;
  let newest: RecoveredChain['newest'];
  let restart: ChainBreak | undefined;
  for (let i = files.length - 1; i >= 0; i--) {
    const file = files[i]!;
    const tail = await readTail(file);
    if (file === newestFile) newest = { file, name: parseAuditFileName(file)!, size: tail.size };
    if (!restart && tail.tornBytes > 0) restart = { reason: 'torn_tail', file: path.basename(file), tornBytes: tail.tornBytes };
    const last = tail.lines[tail.lines.length - 1];
    if (!last) continue;
    const head = headAfter(tail.lines);
    if (head) return { head, newest, restart };
    // A complete last line that is not a chain line (corruption or an edit): the chain goes on
    // from it (prev = its hash) with a restart record; the verifier reports the line itself.
    return { head: { seq: seqBefore(tail.lines), hash: sha256Hex(last) }, newest, restart: restart ?? { reason: 'unreadable_tail', file: path.basename(file) } };
  }
  return { head: GENESIS_HEAD, newest, restart };
}

function parseChain(line: Buffer): { seq: number; prev: string } | undefined {
  try {
    const fields = chainFields(JSON.parse(line.toString('utf8')));
    return typeof fields === 'string' ? undefined : fields;
  } catch {
    return undefined;
  }
}

function headAfter(lines: Buffer[]): ChainHead | undefined {
  const last = lines[lines.length - 1]!;
  const fields = parseChain(last);
  return fields ? { seq: fields.seq, hash: sha256Hex(last) } : undefined;
}

/** Best guess of the last line's seq when it is unreadable: the last readable one's plus the lines after it. */
function seqBefore(lines: Buffer[]): number {
  for (let i = lines.length - 2; i >= 0; i--) {
    const fields = parseChain(lines[i]!);
    if (fields) return fields.seq + (lines.length - 1 - i);
  }
  return lines.length;
}

interface Tail {
  size: number;
  /** Complete lines (without "\n") at the end of the file: at least the last one when there is one. */
  lines: Buffer[];
  /** Bytes after the last "\n". */
  tornBytes: number;
}

const CHUNK = 64 * 1024;

/** Reads backwards until the last complete line (and a little before it) is in hand. */
async function readTail(file: string): Promise<Tail> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    let pos = size;
    let buf = Buffer.alloc(0);
    let lastNl = -1;
    while (pos > 0) {
      const len = Math.min(CHUNK, pos);
      pos -= len;
      const chunk = Buffer.alloc(len);
      const { bytesRead } = await fh.read(chunk, 0, len, pos);
      buf = Buffer.concat([chunk.subarray(0, bytesRead), buf]);
      lastNl = buf.lastIndexOf(0x0a);
      // Done once the last complete line starts inside the buffer (a "\n" before it, or the file start).
      if (lastNl > 0 && buf.lastIndexOf(0x0a, lastNl - 1) >= 0) break;
    }
    if (lastNl < 0) return { size, lines: [], tornBytes: buf.length };
    const start = pos === 0 ? 0 : buf.indexOf(0x0a) + 1;
    return { size, lines: splitLines(buf.subarray(start, lastNl + 1)), tornBytes: buf.length - lastNl - 1 };
  } finally {
    await fh.close();
  }
}

/** Splits "\n"-terminated lines into their bytes. */
function splitLines(buf: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, start)) {
    lines.push(buf.subarray(start, nl));
    start = nl + 1;
  }
  return lines;
}
