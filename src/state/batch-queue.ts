import { silentLogger, type StateLogger } from './state-logger.js';

/** Options of a batch queue. */
export interface BatchQueueOptions<T> {
  /** Writes one batch; a rejection loses that batch (counted as failed, logged). */
  write: (batch: T[]) => Promise<void>;
  /** A batch is written this long after its first item at the latest. */
  intervalMs?: number;
  /** ...or as soon as this many items wait. */
  maxBatch?: number;
  /**
   * Most items waiting. Past it new items are dropped and counted: the request path must
   * never wait on the disk or the network, and memory must stay bounded when they stall.
   */
  maxQueued?: number;
  /** Drops are logged at most once per this period (with the count since the last line). */
  dropLogEveryMs?: number;
  logger?: StateLogger;
  /** Names the queue in log lines. */
  name: string;
}

/** Counters of a batch queue, for metrics. */
export interface BatchQueueStats {
  queued: number;
  written: number;
  dropped: number;
  failed: number;
}

/**
 * A bounded, batching, never-blocking queue in front of a slow writer: `push` is sync and
 * O(1); batches are written one at a time, in order; `flush` resolves once everything pushed
 * before it is written (or has failed).
 */
export class BatchQueue<T> {
  private queue: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The pending timer is a zero-delay one (a full batch waits). */
  private immediate = false;
  private draining: Promise<void> | undefined;
  /** When the oldest item still queued was pushed (Date.now()). */
  private oldestAtMs = 0;
  /** flush() calls waiting: a drain keeps going until the queue is empty while there are any. */
  private flushes = 0;
  private readonly counters = { written: 0, dropped: 0, failed: 0 };
  private droppedSinceLog = 0;
  private lastDropLogMs = -Infinity;
  private readonly intervalMs: number;
  private readonly maxBatch: number;
  private readonly maxQueued: number;
  private readonly dropLogEveryMs: number;
  private readonly logger: StateLogger;

  constructor(private readonly options: BatchQueueOptions<T>) {
    this.intervalMs = options.intervalMs ?? 200;
    this.maxBatch = options.maxBatch ?? 256;
    this.maxQueued = options.maxQueued ?? 10_000;
    this.dropLogEveryMs = options.dropLogEveryMs ?? 60_000;
    this.logger = options.logger ?? silentLogger;
  }

  /** Queues an item, or drops it (counted) when the queue is full. Never throws, never waits. */
  push(item: T): void {
    if (this.queue.length >= this.maxQueued) {
      this.counters.dropped++;
      this.droppedSinceLog++;
      const now = Date.now();
      if (now - this.lastDropLogMs >= this.dropLogEveryMs) {
        this.logger.error({ queue: this.options.name, dropped: this.droppedSinceLog, maxQueued: this.maxQueued }, `${this.options.name} queue full: records dropped`);
        this.lastDropLogMs = now;
        this.droppedSinceLog = 0;
      }
      return;
    }
    if (this.queue.length === 0) this.oldestAtMs = Date.now();
    this.queue.push(item);
    // A running drain arms the timer for what is left when it ends (or takes it on, for a full
    // batch or a flush): no timer here. And an immediate batch already scheduled needs no new
    // timer per item (at a few thousand records a second, re-arming it on every push was a
    // clearTimeout + setTimeout each).
    if (this.draining) return;
    if (this.queue.length >= this.maxBatch) {
      if (!(this.timer && this.immediate)) this.kick(0);
    } else if (!this.timer) this.kick(this.intervalMs);
  }

  /** Writes everything queued so far; resolves when it is on its way out (written or failed). */
  async flush(): Promise<void> {
    this.flushes++;
    try {
      while (this.queue.length > 0 || this.draining) {
        if (this.timer) {
          clearTimeout(this.timer);
          this.timer = undefined;
        }
        await (this.draining ?? this.drain());
      }
    } finally {
      this.flushes--;
    }
  }

  stats(): BatchQueueStats {
    return { queued: this.queue.length, ...this.counters };
  }

  private kick(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    // Unref: a pending batch must not keep a finished process alive; close() flushes it.
    this.immediate = delayMs === 0;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void (this.draining ?? this.drain());
    }, delayMs);
    this.timer.unref();
  }

  private drain(): Promise<void> {
    // Nothing to write (a timer firing after another drain took its items): an async body
    // with nothing to await would run its `finally` before `draining` is assigned, leaving a
    // settled promise there for good (flush would then spin and later batches never start).
    if (this.queue.length === 0) return Promise.resolve();
    this.draining = (async () => {
      try {
        // One batch, then more only while a full batch waits or a flush is waiting. What came in
        // during a write otherwise waits for its own interval: looping until empty turned the
        // interval into back-to-back batches of whatever arrived during the last write (under
        // load, a ledger open/write/close every ~30 ms instead of every 200 ms).
        do {
          const batch = this.queue.splice(0, this.maxBatch);
          try {
            await this.options.write(batch);
            this.counters.written += batch.length;
          } catch (err) {
            this.counters.failed += batch.length;
            this.logger.error({ queue: this.options.name, lost: batch.length, err }, `${this.options.name}: batch write failed`);
          }
        } while (this.queue.length >= this.maxBatch || (this.flushes > 0 && this.queue.length > 0));
      } finally {
        this.draining = undefined;
        // The rest is due intervalMs after the oldest of it arrived (at once if that is past).
        if (this.queue.length > 0 && !this.timer) this.kick(Math.max(0, this.oldestAtMs + this.intervalMs - Date.now()));
      }
    })();
    return this.draining;
  }
}
