import { BatchQueue, type BatchQueueStats } from '../batch-queue.js';
import { silentLogger, type StateLogger } from '../state-logger.js';
import type { UsageQuery, UsageRecord, UsageSink } from '../types.js';
import { DEFAULT_USAGE_QUERY_LIMIT, matchesUsage } from '../usage-match.js';
import type { RedisConnection } from './redis-connection.js';

/** Options of the Redis usage stream. */
export interface RedisUsageOptions {
  /**
   * Approximate length cap of the stream (`XADD MAXLEN ~`): the oldest records are trimmed
   * past it, keeping Redis memory bounded (~0.5 KB a record: 200 000 ≈ 100 MB). The stream
   * is the shared, recent view; a billing export should read it (or the spill files) regularly.
   */
  maxLen?: number;
  /**
   * Where a batch goes when Redis cannot take it: the local JSONL ledger of this instance,
   * so an outage loses no usage records (they are then only in that instance's files).
   */
  spill: UsageSink;
  batchMs?: number;
  batchRecords?: number;
  maxQueued?: number;
  logger?: StateLogger;
}

/**
 * A stream id is the Redis time a record was added; its `time` is when the request started
 * (earlier), on the instance's clock. So a query may start reading at `from` less this slack
 * (instance clocks ahead of Redis by more would hide records), and must read to the end: a
 * record of any age can be appended late (a long request, a batch retried after an outage).
 */
const ID_SLACK_MS = 600_000;

/**
 * Usage records as entries of the Redis stream `<prefix>usage` (field `r`, the record as
 * JSON), appended in pipelined batches; `query()` reads them back with XRANGE.
 */
export class RedisUsageSink implements UsageSink {
  private readonly queue: BatchQueue<UsageRecord>;
  private readonly key: string;
  private readonly maxLen: number;
  private readonly logger: StateLogger;
  private spilling = false;
  private spilled = 0;

  constructor(
    private readonly conn: RedisConnection,
    prefix: string,
    private readonly options: RedisUsageOptions,
  ) {
    this.key = `${prefix}usage`;
    this.maxLen = options.maxLen ?? 200_000;
    this.logger = options.logger ?? silentLogger;
    this.queue = new BatchQueue({
      name: 'usage stream',
      write: (batch) => this.write(batch),
      intervalMs: options.batchMs,
      maxBatch: options.batchRecords,
      maxQueued: options.maxQueued,
      logger: this.logger,
    });
  }

  append(record: UsageRecord): void {
    this.queue.push(record);
  }

  /** Matching records of the stream, in the order they were added (≈ time order). */
  async *query(q: UsageQuery, limit = DEFAULT_USAGE_QUERY_LIMIT): AsyncIterable<UsageRecord> {
    await this.flush();
    if (limit <= 0) return;
    let start = q.from ? String(Math.max(0, q.from.getTime() - ID_SLACK_MS)) : '-';
    const end = '+';
    let count = 0;
    for (;;) {
      const page = await this.conn.run('usage query', (c) => c.xrange(this.key, start, end, 'COUNT', 500));
      for (const [, fields] of page) {
        const json = fields[fields.indexOf('r') + 1];
        if (json === undefined) continue;
        let record: UsageRecord;
        try {
          record = JSON.parse(json) as UsageRecord;
        } catch {
          continue;
        }
        if (!matchesUsage(q, record)) continue;
        yield record;
        if (++count >= limit) return;
      }
      if (page.length < 500) return;
      start = `(${page[page.length - 1]![0]}`; // exclusive: continue after the last id read
    }
  }

  /** Writes what is queued, including what went to the spill ledger meanwhile. */
  async flush(): Promise<void> {
    await this.queue.flush();
    await this.options.spill.flush();
  }

  /** Flushes, then the spill ledger (the connection is the backend's to close). */
  async close(): Promise<void> {
    await this.flush();
    await this.options.spill.close();
  }

  stats(): BatchQueueStats & { spilled: number } {
    return { ...this.queue.stats(), spilled: this.spilled };
  }

  /**
   * One pipeline of XADDs. Records Redis did not take go to the spill ledger; after a timeout
   * some may have reached the stream too (at-least-once: a record can be in both, never in neither).
   */
  private async write(batch: UsageRecord[]): Promise<void> {
    let failed: UsageRecord[];
    let error: unknown;
    try {
      const results = await this.conn.run('usage append', (c) => {
        const pipe = c.pipeline();
        for (const record of batch) pipe.xadd(this.key, 'MAXLEN', '~', this.maxLen, '*', 'r', JSON.stringify(record));
        return pipe.exec();
      });
      failed = batch.filter((_, i) => !results || results[i]?.[0]);
      error = results?.find(([err]) => err)?.[0];
    } catch (err) {
      failed = batch;
      error = err;
    }
    if (failed.length === 0) {
      if (this.spilling) {
        this.spilling = false;
        this.logger.info({}, 'usage records go to the Redis stream again');
      }
      return;
    }
    if (!this.spilling) {
      this.spilling = true;
      this.logger.warn({ err: (error as Error | undefined)?.message }, 'Redis unavailable: usage records go to the local ledger of this instance');
    }
    this.spilled += failed.length;
    for (const record of failed) this.options.spill.append(record);
  }
}
