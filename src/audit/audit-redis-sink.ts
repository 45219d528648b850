import { Redis } from 'ioredis';
import type { Logger } from 'pino';

import { throttledWarn, type ThrottledLog } from './log-throttle.js';

export interface AuditRedisOptions {
  url: string;
  /** Stream key the lines are XADDed to (field `line`). */
  stream: string;
  /** Approximate stream length kept (`MAXLEN ~`); default 100_000. */
  maxLen?: number;
  /** Lines waiting for Redis at most; more are dropped and counted. Default 10_000. */
  maxQueue?: number;
  /** XADDs per pipeline; default 500. */
  batchSize?: number;
  /** An XADD unanswered after this long fails (dropped, counted); default 2_000 ms. */
  commandTimeoutMs?: number;
  /** close() waits at most this long for the queue to drain and QUIT; default 2_000 ms. */
  closeTimeoutMs?: number;
  /** Failures are logged at most once per this interval; default 30_000 ms. */
  logIntervalMs?: number;
}

export interface AuditRedisStats {
  /** Lines stored in the stream. */
  sent: number;
  /** Lines waiting. */
  queued: number;
  /** Lines given up on: queue full, rejected by Redis, or still waiting when close() timed out. */
  dropped: number;
  /** Failures: connection errors reported by ioredis and XADD batches or commands that failed. */
  errors: number;
}

export interface AuditRedisSink {
  /** Queues chained lines for XADD; never blocks, never throws. */
  push(lines: readonly string[]): void;
  stats(): AuditRedisStats;
  close(): Promise<void>;
}

/**
 * Mirrors audit lines to a Redis stream, an off-host copy of the chain (the verifier can compare
 * a file's lines with it). The file is the record of truth: this sink only ever loses lines,
 * counted, and never holds a request. ioredis settings: no offline queue (a command while
 * disconnected fails at once instead of piling up), no per-request retries or resends (this
 * sink retries whole batches itself), a command timeout, and reconnects forever with a
 * backoff capped at 2 s.
 */
export function createAuditRedisSink(opts: AuditRedisOptions & { logger: Logger }): AuditRedisSink {
  return new RedisSink(opts);
}

class RedisSink implements AuditRedisSink {
  private readonly client: Redis;
  private readonly queue: string[] = [];
  private readonly counts = { sent: 0, dropped: 0, errors: 0 };
  private readonly warn: ThrottledLog;
  private pumping: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly maxLen: string;
  private readonly maxQueue: number;
  private readonly batchSize: number;
  private readonly commandTimeoutMs: number;
  private readonly closeTimeoutMs: number;

  constructor(private readonly opts: AuditRedisOptions & { logger: Logger }) {
    this.maxLen = String(opts.maxLen ?? 100_000);
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.batchSize = opts.batchSize ?? 500;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 2_000;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 2_000;
    this.warn = throttledWarn(opts.logger, opts.logIntervalMs ?? 30_000);
    this.client = new Redis(opts.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: this.commandTimeoutMs,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    });
    this.client.on('error', (err: Error) => {
      this.counts.errors++;
      this.warn({ err: err.message, stream: opts.stream }, 'audit Redis sink: connection error; reconnecting');
    });
    this.client.on('ready', () => this.kick());
    this.client.connect().catch(() => undefined); // failures arrive as 'error' events
  }

  push(lines: readonly string[]): void {
    if (this.closing) return;
    const room = this.maxQueue - this.queue.length;
    const take = Math.min(room, lines.length);
    for (let i = 0; i < take; i++) this.queue.push(lines[i]!);
    if (take < lines.length) {
      this.counts.dropped += lines.length - take;
      this.warn({ dropped: this.counts.dropped, stream: this.opts.stream }, 'audit Redis sink: queue full, lines dropped');
    }
    this.kick();
  }

  stats(): AuditRedisStats {
    return { ...this.counts, queued: this.queue.length };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.retryTimer);
    const deadline = Date.now() + this.closeTimeoutMs;
    while (this.queue.length > 0 && Date.now() < deadline) {
      if (this.client.status === 'ready') {
        this.kick();
        await this.pumping;
        if (this.queue.length > 0) await sleep(Math.min(50, deadline - Date.now()));
      } else {
        await this.readyOr(deadline - Date.now());
      }
    }
    if (this.queue.length > 0) {
      this.counts.dropped += this.queue.length;
      this.opts.logger.warn({ lost: this.queue.length, stream: this.opts.stream }, 'audit Redis sink: lines not mirrored before close');
      this.queue.length = 0;
    }
    if (this.client.status === 'ready') {
      await Promise.race([this.client.quit().catch(() => undefined), sleep(Math.max(100, deadline - Date.now()))]);
    }
    this.client.disconnect(false);
  }

  private kick(): void {
    if (this.pumping || this.queue.length === 0 || this.client.status !== 'ready') return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
    });
  }

  /** One pipeline at a time until the queue is empty or a batch fails (then retried after a pause). */
  private async pump(): Promise<void> {
    while (this.queue.length > 0 && this.client.status === 'ready') {
      const batch = this.queue.slice(0, this.batchSize);
      const pipeline = this.client.pipeline();
      for (const line of batch) pipeline.xadd(this.opts.stream, 'MAXLEN', '~', this.maxLen, '*', 'line', line);
      let results: [Error | null, unknown][] | null;
      try {
        // ioredis times each command out (commandTimeout); this is the backstop for the whole batch.
        results = await withTimeout(pipeline.exec(), this.commandTimeoutMs + 1_000);
      } catch (err) {
        this.failed(batch.length, err as Error);
        return;
      }
      const failures = (results ?? []).filter(([err]) => err !== null);
      if (results === null || (failures.length === batch.length && this.client.status !== 'ready')) {
        // The connection went away under the batch: keep it for after the reconnect ('ready').
        this.failed(batch.length, failures[0]?.[0] ?? new Error('pipeline aborted'));
        return;
      }
      this.queue.splice(0, batch.length);
      this.counts.sent += batch.length - failures.length;
      if (failures.length > 0) {
        // Rejected by Redis itself (e.g. WRONGTYPE, OOM): retrying would fail again.
        this.counts.errors += failures.length;
        this.counts.dropped += failures.length;
        this.warn({ err: failures[0]![0]!.message, failed: failures.length, stream: this.opts.stream }, 'audit Redis sink: XADD failed, lines dropped');
      }
    }
  }

  private failed(lines: number, err: Error): void {
    this.counts.errors++;
    this.warn({ err: err.message, lines, stream: this.opts.stream }, 'audit Redis sink: batch failed; will retry');
    if (this.closing) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.kick(), 500);
    this.retryTimer.unref();
  }

  private readyOr(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.client.on('ready', done);
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  p.catch(() => undefined);
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
