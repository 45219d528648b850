import { createReadStream } from 'node:fs';
import path from 'node:path';

import { chainFields, GENESIS_PREV, sha256Hex } from './audit-chain.js';
import { compareAuditFiles } from './audit-file-name.js';

export interface VerifyResult {
  /** Every line checked chains to the one before it and no line is broken. */
  ok: boolean;
  /** Files opened (all of them when ok). */
  files: number;
  /** Lines found intact. */
  lines: number;
  /** sha256 of the last intact line: the chain head, what the next line's `prev` must be. */
  head?: string;
  /** seq of the last intact line. */
  seq?: number;
  /** Where the checked chain begins: at genesis (seq 1), or mid-chain when later files are checked alone. */
  start?: { file: string; seq: number; prev: string; genesis: boolean };
  /** Crashes the writer recovered from: a torn last line, then a new file opening with `chain_restart`. */
  restarts: { file: string; line: number; tornBytes: number }[];
  /** The first broken line (1-based) and why. */
  broken?: { file: string; line: number; reason: string };
}

interface Pos {
  file: string;
  line: number;
}

/**
 * Checks audit files as one chain, in chain order (day, then number) whatever the order given:
 * each line is a JSON object with `seq` one more than the line before and `prev` the sha256 of
 * the line before's bytes (GENESIS_PREV for seq 1); across files, the first line of a file
 * chains to the last line of the file before it. Rejects only when a file cannot be read.
 *
 * Naming the line: an edited line k shows as a wrong `prev` on line k+1; when line k+2 chains
 * correctly to k+1, line k is the one changed ("hash mismatch"), otherwise k+1 is ("prev
 * mismatch"). A deleted or moved line shows as a sequence gap at the line now in its place.
 * A torn last line (no "\n") is broken unless the writer acknowledged it: the next file then
 * starts with a `chain_restart` record chaining to the last intact line.
 *
 * What a chain cannot show: a change to the very last line, or the tail cut off at a line
 * boundary. Compare `head`/`seq` with a copy kept elsewhere (the Redis stream mirror) for that.
 */
export async function verifyAuditFiles(files: readonly string[]): Promise<VerifyResult> {
  const seen = new Set<string>();
  const ordered = files.filter((f) => !seen.has(path.resolve(f)) && seen.add(path.resolve(f))).sort((a, b) => compareAuditFiles(a, b));
  const v = new ChainVerifier();
  let opened = 0;
  for (const file of ordered) {
    opened++;
    let lineNo = 0;
    for await (const { bytes, terminated } of readLines(file)) {
      lineNo++;
      const broken = v.line({ file, line: lineNo }, bytes, terminated);
      if (broken) return v.result(opened, broken);
    }
  }
  return v.result(opened, v.end());
}

interface LastLine extends Pos {
  seq: number;
  hash: string;
}

type Broken = NonNullable<VerifyResult['broken']>;

class ChainVerifier {
  private last: LastLine | undefined;
  private count = 0;
  private start: VerifyResult['start'];
  private readonly restarts: VerifyResult['restarts'] = [];
  /** A torn line ending a file, waiting for the next file's `chain_restart`. */
  private torn: (Pos & { bytes: number }) | undefined;
  /** A line whose `prev` is wrong: was it changed, or the line before it? The next line tells. */
  private suspect: (LastLine & { before: Pos }) | undefined;

  line(pos: Pos, bytes: Buffer, terminated: boolean): Broken | undefined {
    if (!terminated) {
      if (this.suspect) return this.blameSuspect();
      this.torn = { ...pos, bytes: bytes.length };
      return undefined;
    }
    const parsed = parseLine(bytes);
    if (typeof parsed === 'string') return this.blameSuspect() ?? this.tornBroken() ?? { ...pos, reason: `bad JSON: ${parsed}` };
    const hash = sha256Hex(bytes);
    if (this.torn) {
      if (!this.acknowledges(parsed)) return this.tornBroken();
      this.restarts.push({ file: this.torn.file, line: this.torn.line, tornBytes: this.torn.bytes });
      this.torn = undefined;
    }
    const last = this.last;
    if (!last) {
      this.start = { file: pos.file, seq: parsed.seq, prev: parsed.prev, genesis: parsed.seq === 1 };
      if (parsed.seq === 1 && parsed.prev !== GENESIS_PREV) return { ...pos, reason: 'prev mismatch: the first line of a chain (seq 1) must have the genesis prev' };
      return this.accept(pos, parsed.seq, hash);
    }
    if (this.suspect) {
      const s = this.suspect;
      if (parsed.seq === s.seq + 1 && parsed.prev === s.hash) {
        return { ...s.before, reason: `hash mismatch: line changed (its sha256 is not the prev recorded by ${where(s.before, s)})` };
      }
      return this.blameSuspect();
    }
    const firstOfFile = pos.line === 1 ? ' (first line of the file: are the files consecutive?)' : '';
    if (parsed.seq !== last.seq + 1) {
      const kind = parsed.seq > last.seq + 1 ? 'sequence gap' : 'sequence out of order';
      return { ...pos, reason: `${kind}: expected seq ${last.seq + 1}, found ${parsed.seq}${firstOfFile}` };
    }
    if (parsed.prev !== last.hash) {
      this.suspect = { ...pos, seq: parsed.seq, hash, before: { file: last.file, line: last.line } };
      return undefined;
    }
    return this.accept(pos, parsed.seq, hash);
  }

  /** After the last line of the last file. */
  end(): Broken | undefined {
    return this.blameSuspect() ?? this.tornBroken();
  }

  result(files: number, broken: Broken | undefined): VerifyResult {
    return {
      ok: broken === undefined,
      files,
      lines: this.count,
      ...(this.last ? { head: this.last.hash, seq: this.last.seq } : {}),
      ...(this.start ? { start: this.start } : {}),
      restarts: this.restarts,
      ...(broken ? { broken } : {}),
    };
  }

  private accept(pos: Pos, seq: number, hash: string): undefined {
    this.last = { ...pos, seq, hash };
    this.count++;
    return undefined;
  }

  /** A `chain_restart` record going on from the last intact line. */
  private acknowledges(fields: { seq: number; prev: string; type?: unknown }): boolean {
    if (fields.type !== 'chain_restart') return false;
    return this.last ? fields.seq === this.last.seq + 1 && fields.prev === this.last.hash : true;
  }

  private blameSuspect(): Broken | undefined {
    const s = this.suspect;
    if (!s) return undefined;
    return { file: s.file, line: s.line, reason: `prev mismatch: prev is not the sha256 of ${where(s, s.before)}` };
  }

  private tornBroken(): Broken | undefined {
    const t = this.torn;
    if (!t) return undefined;
    return { file: t.file, line: t.line, reason: `truncated line: ${t.bytes} bytes without a final newline and no chain_restart after it` };
  }
}

function where(at: Pos, other: Pos): string {
  return at.file === other.file ? `line ${other.line}` : `${path.basename(other.file)} line ${other.line}`;
}

function parseLine(bytes: Buffer): { seq: number; prev: string; type?: unknown } | string {
  if (bytes.length === 0) return 'empty line';
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return (err as Error).message;
  }
  const fields = chainFields(value);
  if (typeof fields === 'string') return fields;
  return { ...fields, type: (value as { type?: unknown }).type };
}

/** The lines of a file as their exact bytes; `terminated` is false only for a last line without "\n". */
async function* readLines(file: string): AsyncGenerator<{ bytes: Buffer; terminated: boolean }> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    let buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      yield { bytes: buf.subarray(start, nl), terminated: true };
      start = nl + 1;
    }
    buf = buf.subarray(start);
    rest = Buffer.from(buf);
  }
  if (rest.length > 0) yield { bytes: rest, terminated: false };
}
