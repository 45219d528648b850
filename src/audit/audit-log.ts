import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

import { chainLine, sha256Hex, type ChainHead } from './audit-chain.js';
import { AuditFileSink } from './audit-file-sink.js';
import { utcDay } from './audit-file-name.js';
import { encodeRecord, syntheticBody } from './audit-record.js';
import { recoverChain, type ChainBreak } from './audit-recover.js';
import type { AuditRedisOptions, AuditRedisSink, AuditRedisStats } from './audit-redis-sink.js';
import { throttledWarn, type ThrottledLog } from './log-throttle.js';

export interface AuditLogOptions {
  /** Directory of the audit files; created if missing (mode 0o700). */
  dir: string;
  /** A file is closed and the next one opened before it would grow past this; default 64 MiB. */
  maxFileBytes?: number;
  /** Lines waiting for the disk at most (written-but-not-synced ones included); default 10_000. */
  maxQueue?: number;
  /** Bytes of queued records at most (a bound for very large records); default 64 MiB. */
  maxQueueBytes?: number;
  /** Queued lines are written and fsynced this often; default 200 ms. */
  flushIntervalMs?: number;
  /** Write at once, without waiting for the interval, when this many lines wait; default 1_000. */
  flushBatchLines?: number;
  /** close() keeps retrying a failing disk this long before giving up on what is queued; default 5_000 ms. */
  closeTimeoutMs?: number;
  /** Disk errors and drops are logged at most once per this interval; default 10_000 ms. */
  logIntervalMs?: number;
  /** Mirror every line to a Redis stream (`XADD stream MAXLEN ~ maxLen * line <json>`). */
  redis?: { url: string; stream: string; maxLen?: number } & Omit<AuditRedisOptions, 'url' | 'stream' | 'maxLen'>;
  logger: Logger;
  /** Called with the number of records just dropped (queue full), e.g. to count them in Prometheus. */
  onDrop?: (count: number) => void;
  /** Clock for `ts` and the day of the file name (tests of day rotation). */
  now?: () => Date;
}

export interface AuditStats {
  /** Lines on disk (fsynced) since open, the log's own `audit_dropped` / `chain_restart` lines included. */
  written: number;
  /** Records refused because the queue was full (maxQueue lines or maxQueueBytes). */
  dropped: number;
  /** Lines waiting for the disk. */
  queued: number;
  /** Redis mirror failures (see AuditRedisStats.errors); 0 without Redis. */
  redisErrors: number;
  /** The file lines go to now. */
  file?: string;
  /** Records refused because they do not serialise to a JSON object. */
  rejected: number;
  /** Failed appends, fsyncs or file opens (each retried later). */
  diskErrors: number;
  /** seq of the last line on disk (0 before the first). */
  seq: number;
  /** sha256 of the last line on disk: the chain head, worth anchoring elsewhere. */
  head: string;
  redis?: AuditRedisStats;
}

export interface AuditLog {
  /** Queues a record and returns at once; false when it was dropped (queue full, closed, or not JSON). */
  write(record: Record<string, unknown>): boolean;
  /** Resolves once everything written before the call is fsynced; rejects if that attempt fails (it is retried). */
  flush(): Promise<void>;
  /** Drains the queue, fsyncs, closes the file (and the Redis mirror, within its timeout). */
  close(): Promise<void>;
  stats(): AuditStats;
}

/**
 * Opens the audit log in `opts.dir`, continuing the chain found there (see `recoverChain`).
 * Rejects only when the directory cannot be created or read; disk errors after that are
 * logged, counted and retried, never thrown at a caller of `write`.
 */
export async function openAuditLog(opts: AuditLogOptions): Promise<AuditLog> {
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const recovered = await recoverChain(opts.dir);
  // The Redis mirror (and ioredis with it) is loaded only when one is configured.
  const redis = opts.redis ? (await import('./audit-redis-sink.js')).createAuditRedisSink({ ...opts.redis, logger: opts.logger }) : undefined;
  const log = new FileAuditLog(opts, recovered.head, redis);
  log.start(recovered.newest, recovered.restart);
  return log;
}

interface Entry {
  /** The record's JSON; the chain fields are put in front when the line is written. */
  body: string;
  /** UTC day the record was written: a later day starts a new file. */
  day: string;
  /** Order of `write` calls, for flush(); 0 for the log's own restart lines. */
  id: number;
  /** This line must begin a new file (a `chain_restart`). */
  restart?: boolean;
}

interface Waiter {
  id: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Lines and bytes in one append at most. */
const MAX_APPEND_LINES = 10_000;
const MAX_APPEND_BYTES = 8 * 1024 * 1024;

class FileAuditLog implements AuditLog {
  private readonly queue: Entry[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly sink: AuditFileSink;
  private readonly now: () => Date;
  private readonly maxFileBytes: number;
  private readonly maxQueue: number;
  private readonly maxQueueBytes: number;
  /** Length of the queued bodies (UTF-16 units, close enough to bytes for a bound). */
  private queuedChars = 0;
  private readonly intervalMs: number;
  private readonly batchLines: number;
  /** One throttle per kind of trouble, so a flood of one never hides the other. */
  private readonly warn: Record<'drop' | 'disk' | 'record', ThrottledLog>;
  private counts = { written: 0, dropped: 0, rejected: 0, diskErrors: 0 };
  /** Records dropped since the last `audit_dropped` line was queued. */
  private unreported = 0;
  private lastId = 0;
  private durableId = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private closing = false;
  /** close() has finished: nothing is written any more. */
  private ended = false;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly opts: AuditLogOptions,
    private head: ChainHead,
    private readonly redis: AuditRedisSink | undefined,
  ) {
    this.now = opts.now ?? (() => new Date());
    this.maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
    this.maxQueue = Math.max(2, opts.maxQueue ?? 10_000);
    this.maxQueueBytes = opts.maxQueueBytes ?? 64 * 1024 * 1024;
    this.intervalMs = opts.flushIntervalMs ?? 200;
    this.batchLines = Math.min(opts.flushBatchLines ?? 1_000, this.maxQueue);
    const every = opts.logIntervalMs ?? 10_000;
    this.warn = { drop: throttledWarn(opts.logger, every), disk: throttledWarn(opts.logger, every), record: throttledWarn(opts.logger, every) };
    this.sink = new AuditFileSink(opts.dir, this.maxFileBytes);
  }

  start(newest: { file: string; name: { day: string; index: number }; size: number } | undefined, restart: ChainBreak | undefined): void {
    if (newest) this.sink.adopt(newest, restart !== undefined);
    if (!restart) return;
    this.opts.logger.warn({ ...restart, seq: this.head.seq }, 'audit log: the newest file does not end in a complete chain line; the chain goes on in a new file from a chain_restart record');
    this.queueRestart(restart.reason, { file: restart.file, ...(restart.tornBytes !== undefined ? { tornBytes: restart.tornBytes } : {}) }, ++this.lastId);
    this.kick();
  }

  write(record: Record<string, unknown>): boolean {
    if (this.closing) {
      this.warn.record({}, 'audit log: write after close, record dropped');
      return false;
    }
    // Room for the record, and for the `audit_dropped` line in front of it when records were dropped.
    if (this.queue.length + (this.unreported > 0 ? 2 : 1) > this.maxQueue) {
      this.drop();
      return false;
    }
    const iso = this.now().toISOString();
    let encoded: { body: string; stripped: boolean };
    try {
      encoded = encodeRecord(record, iso);
    } catch (err) {
      this.counts.rejected++;
      this.warn.record({ err: (err as Error).message }, 'audit log: record is not serialisable, dropped');
      return false;
    }
    if (this.queue.length > 0 && this.queuedChars + encoded.body.length > this.maxQueueBytes) {
      this.drop();
      return false;
    }
    if (encoded.stripped) this.warn.record({}, 'audit log: record fields "seq"/"prev" belong to the chain and were left out');
    const day = iso.slice(0, 10); // the UTC day
    if (this.unreported > 0) {
      this.enqueue({ body: syntheticBody('audit_dropped', iso, { count: this.unreported }), day, id: ++this.lastId });
      this.unreported = 0;
    }
    this.enqueue({ body: encoded.body, day, id: ++this.lastId });
    this.schedule();
    return true;
  }

  flush(): Promise<void> {
    const id = this.lastId;
    if (this.durableId >= id) return Promise.resolve();
    if (this.ended) return Promise.reject(new Error('audit log closed with records not written'));
    return new Promise((resolve, reject) => {
      this.waiters.push({ id, resolve, reject });
      this.kick();
    });
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  stats(): AuditStats {
    const redis = this.redis?.stats();
    const file = this.sink.current()?.file;
    return {
      ...this.counts,
      queued: this.queue.length,
      redisErrors: redis?.errors ?? 0,
      ...(file !== undefined ? { file } : {}),
      seq: this.head.seq,
      head: this.head.hash,
      ...(redis ? { redis } : {}),
    };
  }

  private enqueue(e: Entry): void {
    this.queue.push(e);
    this.queuedChars += e.body.length;
  }

  private drop(): void {
    this.counts.dropped++;
    this.unreported++;
    this.warn.drop({ dropped: this.counts.dropped, maxQueue: this.maxQueue, maxQueueBytes: this.maxQueueBytes }, 'audit log: queue full, records dropped');
    try {
      this.opts.onDrop?.(1);
    } catch {
      // A metrics callback must not turn a drop into a failed request.
    }
  }

  /** A `chain_restart` line in front of the queue; `id` 0 when records already queued come after it. */
  private queueRestart(reason: string, fields: Record<string, unknown>, id = 0): void {
    const now = this.now();
    const body = syntheticBody('chain_restart', now.toISOString(), { reason, ...fields });
    this.queue.unshift({ body, day: utcDay(now), id, restart: true });
    this.queuedChars += body.length;
  }

  /** A write soon: at once for a large batch, else after the interval. */
  private schedule(): void {
    if (this.queue.length >= this.batchLines) this.kick();
    else if (!this.timer && !this.pumping) this.arm(this.intervalMs);
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, ms);
    this.timer.unref();
  }

  private kick(): void {
    if (this.pumping || this.ended) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      this.afterPump();
    });
  }

  private afterPump(): void {
    if (this.closing || this.queue.length === 0) return;
    if (this.failures > 0) this.arm(Math.min(this.intervalMs * 2 ** this.failures, 5_000));
    else if (this.waiters.length > 0 || this.queue.length >= this.batchLines) this.kick();
    else this.arm(this.intervalMs);
  }

  /** Appends until the queue is empty, or, without a flush or close waiting, until little is left. */
  private async pump(): Promise<void> {
    while (this.queue.length > 0) {
      try {
        await this.appendBatch();
        this.failures = 0;
      } catch (err) {
        this.failures++;
        this.counts.diskErrors++;
        const e = err as NodeJS.ErrnoException;
        this.warn.disk({ err: e.message, code: e.code, queued: this.queue.length, file: this.sink.current()?.file }, 'audit log: write failed; records kept and retried');
        this.settleWaiters(e);
        return;
      }
      this.settleWaiters();
      if (!this.closing && this.waiters.length === 0 && this.queue.length < this.batchLines) return;
    }
  }

  /** Chains the lines at the head of the queue that go to one file, appends and fsyncs them. */
  private async appendBatch(): Promise<void> {
    if (this.sink.abandoned() && !this.queue[0]?.restart) this.queueRestart('write_error', { file: path.basename(this.sink.current()?.file ?? '') });
    const first = this.queue[0]!;
    let seq = this.head.seq;
    let prev = this.head.hash;
    const firstLine = chainLine(seq + 1, prev, first.body);
    if (first.restart || !this.sink.fits(first.day, Buffer.byteLength(firstLine) + 1)) await this.sink.rotate(first.day);
    const file = this.sink.current()!;
    const lines: string[] = [];
    let bytes = 0;
    let batchLastId = 0;
    for (const e of this.queue) {
      if (lines.length >= MAX_APPEND_LINES || bytes >= MAX_APPEND_BYTES) break;
      const line = lines.length === 0 ? firstLine : chainLine(seq + 1, prev, e.body);
      const size = Buffer.byteLength(line) + 1;
      if (lines.length > 0 && (e.restart || e.day > file.name.day || file.size + bytes + size > this.maxFileBytes)) break;
      lines.push(line);
      bytes += size;
      seq++;
      prev = sha256Hex(line);
      batchLastId = Math.max(batchLastId, e.id);
    }
    await this.sink.append(Buffer.from(`${lines.join('\n')}\n`));
    for (const e of this.queue.splice(0, lines.length)) this.queuedChars -= e.body.length;
    this.head = { seq, hash: prev };
    this.counts.written += lines.length;
    this.durableId = Math.max(this.durableId, batchLastId);
    this.redis?.push(lines);
  }

  /** Resolves the flush() calls now covered; with `err`, rejects all that wait. */
  private settleWaiters(err?: Error): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (err) w.reject(err);
      else if (w.id <= this.durableId) w.resolve();
      else continue;
      this.waiters.splice(i, 1);
    }
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    const deadline = Date.now() + (this.opts.closeTimeoutMs ?? 5_000);
    while (this.queue.length > 0) {
      this.kick();
      await this.pumping;
      if (this.queue.length === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(250, Math.max(0, deadline - Date.now()))));
    }
    if (this.queue.length > 0) {
      this.opts.logger.error({ lost: this.queue.length, dir: this.opts.dir }, 'audit log: closed with records not written (disk failing)');
      this.settleWaiters(new Error(`audit log closed with ${this.queue.length} records not written`));
    }
    this.ended = true;
    clearTimeout(this.timer);
    await this.sink.close();
    await this.redis?.close();
  }
}
