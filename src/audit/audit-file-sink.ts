import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { auditFileName, type AuditFileName } from './audit-file-name.js';

/** The file lines go to now. */
export interface CurrentFile {
  file: string;
  name: AuditFileName;
  /** Bytes known to be on disk (fsynced or at least fully written). */
  size: number;
}

/**
 * Owns the audit file handle: appends a batch in one write, fdatasyncs it, rotates to
 * `audit-<day>.<n>.jsonl`. It does not know the chain; `AuditLog` decides where a file ends.
 *
 * After a failed append the file may hold part of the batch. Before the next append it is cut
 * back to the last good size; when that fails too the file is abandoned (`abandoned()`), and the
 * log opens a new one starting with a `chain_restart` record.
 */
export class AuditFileSink {
  private fh: FileHandle | undefined;
  private cur: CurrentFile | undefined;
  /** A write failed since the last good size: truncate before appending again. */
  private dirty = false;
  /** The current file must not be appended to again (torn tail at start-up, or a failed repair). */
  private sealed = false;

  constructor(
    private readonly dir: string,
    private readonly maxFileBytes: number,
  ) {}

  /** Continue the newest file found at start-up (or, with `sealed`, only number the next one after it). */
  adopt(current: CurrentFile, sealed: boolean): void {
    this.cur = { ...current };
    this.sealed = sealed;
  }

  current(): CurrentFile | undefined {
    return this.cur ? { ...this.cur } : undefined;
  }

  /** Whether a line of `bytes` (with its "\n") written on `day` may go to the current file. */
  fits(day: string, bytes: number): boolean {
    const cur = this.cur;
    if (!cur || this.sealed) return false;
    if (day > cur.name.day) return false;
    return cur.size === 0 || cur.size + bytes <= this.maxFileBytes;
  }

  /** The file was given up after a failed repair: the next line must open a new file. */
  abandoned(): boolean {
    return this.sealed;
  }

  /**
   * Opens the next file: `day` (never earlier than the current file's day, so names stay in
   * chain order when the clock steps back), numbered after the current file of that day.
   */
  async rotate(day: string): Promise<void> {
    await this.closeHandle();
    const prev = this.cur?.name;
    const d = prev && prev.day > day ? prev.day : day;
    let index = prev && prev.day === d ? prev.index + 1 : 1;
    for (;;) {
      const file = path.join(this.dir, auditFileName(d, index));
      try {
        // 'ax': never append to a file we did not choose (a stray one of the same name is skipped).
        this.fh = await open(file, 'ax', 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          index++;
          continue;
        }
        throw err;
      }
      this.cur = { file, name: { day: d, index }, size: 0 };
      this.sealed = false;
      this.dirty = false;
      await syncDir(this.dir);
      return;
    }
  }

  /** Appends `data` to the current file and fdatasyncs it; on failure the file is cut back or abandoned. */
  async append(data: Buffer): Promise<void> {
    const cur = this.cur;
    if (!cur || this.sealed) throw new Error('audit file sink: no open file');
    if (!this.fh) this.fh = await open(cur.file, 'a', 0o600);
    const fh = this.fh;
    if (this.dirty) await this.repair(fh, cur);
    this.dirty = true;
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await fh.write(data, off, data.length - off);
      off += bytesWritten;
    }
    await fh.datasync();
    cur.size += data.length;
    this.dirty = false;
  }

  async close(): Promise<void> {
    await this.closeHandle();
  }

  private async repair(fh: FileHandle, cur: CurrentFile): Promise<void> {
    try {
      await fh.truncate(cur.size);
      await fh.datasync();
      this.dirty = false;
    } catch (err) {
      this.sealed = true;
      await this.closeHandle();
      throw err;
    }
  }

  private async closeHandle(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.close().catch(() => undefined);
  }
}

/** fsync the directory so a new file's name survives a power cut; best effort. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Not supported everywhere; the file's own data is synced regardless.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
