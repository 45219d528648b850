import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';

import { BatchQueue, type BatchQueueStats } from '../batch-queue.js';
import { silentLogger, type StateLogger } from '../state-logger.js';
import type { UsageQuery, UsageRecord, UsageSink } from '../types.js';
import { DEFAULT_USAGE_QUERY_LIMIT, matchesUsage } from '../usage-match.js';
import { syncDir } from './atomic-file.js';
import { dayOf, ledgerFileName, listLedgerFiles, readLedgerFile } from './ledger-files.js';

/** `THH:mm:ss.sssZ` from index 10 (sticky), hours 00–23: a time of day Date.parse reads as UTC. */
const ISO_TIME_OF_DAY = /T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/y;

/** Records per ledger batch by default (see UsageLedgerOptions.batchRecords). */
const LEDGER_BATCH_RECORDS = 2048;
/** At most one fsync per this long by default (see UsageLedgerOptions.syncEveryMs). */
const LEDGER_SYNC_EVERY_MS = 1000;

/** Options of the JSONL usage ledger. */
export interface UsageLedgerOptions {
  /** Folder of the ledger files (`<dataDir>/usage`). */
  dir: string;
  /** A day's file is continued in a new part once it reaches this size. Default 64 MiB. */
  maxFileBytes?: number;
  /**
   * Batching of appends: at most this long (default 200 ms) or this many records (default
   * 2048). Each batch is one open, write and close (fsynced per syncEveryMs): at thousands of
   * requests a second a batch of 256 meant ~20 writes a second; 2048 keeps it near the 200 ms
   * cadence (~0.8 MB queued at most per batch).
   */
  batchMs?: number;
  batchRecords?: number;
  /**
   * Group commit: every batch is written to its file at once (a crash of the process loses
   * nothing written), but fsynced at most once per this long (default 1000 ms, Redis's
   * `appendfsync everysec`): a power loss can cost the last second of records. A batch that
   * skipped its fsync gets it on a timer, and `close()` always syncs. An fsync was the largest
   * cost of the ledger under load (~8 ms of kernel CPU each on this machine, five a second);
   * 0 syncs every batch.
   */
  syncEveryMs?: number;
  /** Records waiting for the disk at most (default 10 000, ~a few MB); past it they are dropped and counted. */
  maxQueued?: number;
  logger?: StateLogger;
}

/**
 * Usage records as JSON lines, one file per UTC day of the record's time
 * (`usage-YYYY-MM-DD.jsonl`), continued in `.1`, `.2`… parts past the size cap. Appends are
 * queued (never blocking a request) and written in batches, one at a time; files are fsynced
 * at most once a second (group commit, see syncEveryMs). `flush()` writes everything queued;
 * `close()` also fsyncs it.
 */
export class UsageLedger implements UsageSink {
  private readonly queue: BatchQueue<UsageRecord>;
  private readonly maxFileBytes: number;
  /** The part being written per day and its size, found on disk on first use of the day. */
  private readonly parts = new Map<string, { index: number; size: number }>();
  private dirReady = false;
  /** A YYYY-MM-DD date part seen valid (see dayOfRecord). */
  private knownDay: string | undefined;
  private readonly syncEveryMs: number;
  private lastSyncMs = -Infinity;
  /** Files written since their last fsync (group commit), and the timer that will sync them. */
  private readonly unsynced = new Set<string>();
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  private syncing: Promise<void> = Promise.resolve();

  constructor(private readonly options: UsageLedgerOptions) {
    this.maxFileBytes = options.maxFileBytes ?? 64 * 1024 * 1024;
    this.syncEveryMs = options.syncEveryMs ?? LEDGER_SYNC_EVERY_MS;
    this.queue = new BatchQueue({
      name: 'usage ledger',
      write: (batch) => this.write(batch),
      intervalMs: options.batchMs,
      maxBatch: options.batchRecords ?? LEDGER_BATCH_RECORDS,
      maxQueued: options.maxQueued,
      logger: options.logger ?? silentLogger,
    });
  }

  append(record: UsageRecord): void {
    this.queue.push(record);
  }

  /**
   * Matching records from the files of the days in range, oldest day first and in append
   * order within a day (≈ time order: a record is written when its request ends). What is
   * queued is flushed first, so a caller reads its own appends.
   */
  async *query(q: UsageQuery, limit = DEFAULT_USAGE_QUERY_LIMIT): AsyncIterable<UsageRecord> {
    await this.flush();
    const fromDay = q.from ? dayOf(q.from.getTime()) : undefined;
    const toDay = q.to ? dayOf(q.to.getTime()) : undefined;
    let count = 0;
    if (limit <= 0) return;
    for (const file of await listLedgerFiles(this.options.dir)) {
      if ((fromDay && file.day < fromDay) || (toDay && file.day > toDay)) continue;
      for await (const record of readLedgerFile(file.path)) {
        if (!matchesUsage(q, record)) continue;
        yield record;
        if (++count >= limit) return;
      }
    }
  }

  flush(): Promise<void> {
    return this.queue.flush();
  }

  /** Writes everything queued and fsyncs every file written since its last fsync. */
  async close(): Promise<void> {
    await this.flush();
    await this.syncPending();
  }

  stats(): BatchQueueStats {
    return this.queue.stats();
  }

  private async write(batch: UsageRecord[]): Promise<void> {
    if (!this.dirReady) {
      await mkdir(this.options.dir, { recursive: true });
      this.dirReady = true;
    }
    // One JSON.stringify per record, concatenated per day; the days in order of first appearance.
    const byDay = new Map<string, string>();
    for (const record of batch) {
      const day = this.dayOfRecord(record.time);
      byDay.set(day, (byDay.get(day) ?? '') + JSON.stringify(record) + '\n');
    }
    for (const [day, text] of byDay) await this.appendToDay(day, text);
  }

  /**
   * `dayOf(Date.parse(time))` without parsing and formatting a Date per record: a time in
   * `toISOString` form (what the meter writes) whose date part was already found valid, with a
   * valid time of day, is within that UTC day. Anything else takes the full parse.
   */
  private dayOfRecord(time: string): string {
    if (typeof time === 'string' && time.length === 24 && this.knownDay !== undefined && time.startsWith(this.knownDay)) {
      ISO_TIME_OF_DAY.lastIndex = 10;
      if (ISO_TIME_OF_DAY.test(time)) return this.knownDay;
    }
    const day = dayOf(Date.parse(time));
    // Remember a date part only when it is the day its own time parsed to (a valid date).
    if (typeof time === 'string' && time.length === 24 && time.startsWith(day)) this.knownDay = day;
    return day;
  }

  private async appendToDay(day: string, text: string): Promise<void> {
    // Encoded once: its length is the size, and the write takes the bytes as they are (a string
    // would be measured and then encoded again, two passes over ~1 MB on the event loop).
    const data = Buffer.from(text, 'utf8');
    const bytes = data.length;
    const part = this.parts.get(day) ?? (await this.findPart(day));
    let created = false;
    if (part.size > 0 && part.size + bytes > this.maxFileBytes) {
      part.index++;
      part.size = 0;
    }
    if (part.size === 0) created = true;
    const file = path.join(this.options.dir, ledgerFileName(day, part.index));
    const fh = await open(file, 'a', 0o600);
    try {
      await fh.write(data);
    } finally {
      await fh.close();
    }
    // Group commit: synced now when the last sync is syncEveryMs old, else by the timer.
    this.unsynced.add(file);
    if (Date.now() - this.lastSyncMs >= this.syncEveryMs) await this.syncPending();
    else
      this.syncTimer ??= setTimeout(() => {
        this.syncTimer = undefined;
        void this.syncPending();
      }, Math.max(0, this.lastSyncMs + this.syncEveryMs - Date.now())).unref();
    part.size += bytes;
    this.parts.set(day, part);
    // A new file's directory entry must be durable too, or a crash could lose the whole file.
    if (created) await syncDir(this.options.dir);
    // Only the days still being written matter; keep the map from growing with history.
    if (this.parts.size > 4) for (const d of this.parts.keys()) if (d !== day && this.parts.size > 4) this.parts.delete(d);
  }

  /** Fsyncs the files written since their last sync, one pass at a time; failures are logged, never thrown. */
  private syncPending(): Promise<void> {
    const run = this.syncing.then(async () => {
      if (this.syncTimer) clearTimeout(this.syncTimer);
      this.syncTimer = undefined;
      const files = [...this.unsynced];
      this.unsynced.clear();
      if (!files.length) return;
      this.lastSyncMs = Date.now();
      for (const file of files) {
        try {
          const fh = await open(file, 'r');
          try {
            await fh.sync();
          } finally {
            await fh.close();
          }
        } catch (err) {
          (this.options.logger ?? silentLogger).error({ err: (err as Error).message, file }, 'usage ledger: fsync failed');
        }
      }
    });
    this.syncing = run;
    return run;
  }

  private async findPart(day: string): Promise<{ index: number; size: number }> {
    const files = (await listLedgerFiles(this.options.dir)).filter((f) => f.day === day);
    const last = files.at(-1);
    if (!last) return { index: 0, size: 0 };
    return { index: last.index, size: (await stat(last.path)).size };
  }
}
