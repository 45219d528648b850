/**
 * Embeddings requests of one local model, batched: requests arriving within `windowMs` of the
 * first (or while a batch is in the worker) go to the worker together, in one IPC message and
 * one round trip, instead of one each. One batch is in the worker at a time: it evaluates one
 * input at a time anyway, so a second batch would only wait there instead of here, where it
 * can still grow and be cancelled for free.
 *
 * A request aborted while queued is dropped; one aborted in the worker is released at once and
 * the worker told to stop before its next text. The batch is over when every item of it has
 * had its terminal message (vectors or error), aborted ones included.
 */
import { ProviderError } from '../../src/core/provider-error.js';
import type { WorkerEmbedItem, WorkerErrorKind } from './protocol.js';

/** What the worker computed for one request. */
export interface EmbedResult {
  /** Raw vectors, one per text, in order. */
  vectors: Float32Array[];
  tokens: number;
  /** The model's vector size. */
  size: number;
}

export interface EmbedBatcherOptions {
  providerId: string;
  modelId: string;
  /** How long the first request of a batch waits for others. */
  windowMs: number;
  /** Texts in one batch; a request with more goes alone. */
  maxBatchTexts: number;
  /** Requests that may wait for the next batch; beyond, new ones fail with kind `capacity`. */
  maxQueued: number;
  nextId(): number;
  /** Sends a batch to the worker; false when no ready worker can take it (it is kept for later). */
  send(items: WorkerEmbedItem[]): boolean;
  /** Tells the worker to stop an item. */
  abort(id: number): void;
  /** A request of the batch succeeded (health bookkeeping of the host). */
  onSuccess(): void;
}

interface Job {
  id: number;
  texts: string[];
  signal: AbortSignal;
  state: 'queued' | 'sent' | 'aborting';
  resolve(r: EmbedResult): void;
  reject(err: unknown): void;
  onAbort(): void;
}

export class EmbedBatcher {
  private readonly queue: Job[] = [];
  private readonly inWorker = new Map<number, Job>();
  private timer?: NodeJS.Timeout;
  /** Moving average of a batch's duration, for capacity retry-after estimates. */
  private avgMs = 200;
  private sentAt = 0;

  constructor(private readonly o: EmbedBatcherOptions) {}

  /** Requests waiting for a batch (the host starts a worker for them). */
  get queued(): number {
    return this.queue.length;
  }

  /** Requests in the worker now. */
  get running(): number {
    return this.inWorker.size;
  }

  private error(kind: ProviderError['kind'], message: string, extra: { retryAfterMs?: number; retryable?: boolean; param?: string } = {}): ProviderError {
    return new ProviderError({ kind, provider: this.o.providerId, message, ...extra });
  }

  private abortReason(signal: AbortSignal): ProviderError {
    return signal.reason instanceof ProviderError ? signal.reason : this.error('aborted', 'request aborted by the caller');
  }

  /** Queues one request; the host calls `pump()` when a worker is ready. */
  submit(texts: string[], signal: AbortSignal): Promise<EmbedResult> {
    if (signal.aborted) return Promise.reject(this.abortReason(signal));
    if (this.queue.length >= this.o.maxQueued) {
      return Promise.reject(this.error('capacity', `local model ${this.o.modelId} is busy: ${this.queue.length} embeddings requests queued (limit ${this.o.maxQueued})`, { retryAfterMs: Math.max(100, Math.ceil(this.avgMs)) }));
    }
    return new Promise<EmbedResult>((resolve, reject) => {
      const job: Job = { id: this.o.nextId(), texts, signal, state: 'queued', resolve, reject, onAbort: () => this.cancel(job) };
      signal.addEventListener('abort', job.onAbort, { once: true });
      this.queue.push(job);
    });
  }

  /** Sends the next batch when the worker is free: at once when it is full, else after the window. */
  pump(): void {
    if (this.inWorker.size > 0 || this.queue.length === 0) return;
    const texts = this.queue.reduce((n, j) => n + j.texts.length, 0);
    if (texts >= this.o.maxBatchTexts) return this.flush();
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.o.windowMs);
    this.timer.unref();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inWorker.size > 0 || this.queue.length === 0) return;
    const batch: Job[] = [];
    let texts = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (batch.length > 0 && texts + next.texts.length > this.o.maxBatchTexts) break;
      batch.push(this.queue.shift()!);
      texts += next.texts.length;
    }
    if (!this.o.send(batch.map((j) => ({ id: j.id, texts: j.texts })))) {
      // No ready worker (it died since): the batch waits for the next one.
      this.queue.unshift(...batch);
      return;
    }
    this.sentAt = performance.now();
    for (const job of batch) {
      job.state = 'sent';
      this.inWorker.set(job.id, job);
    }
  }

  private cancel(job: Job): void {
    const reason = this.abortReason(job.signal);
    if (job.state === 'queued') {
      const i = this.queue.indexOf(job);
      if (i >= 0) this.queue.splice(i, 1);
      job.reject(reason);
      return;
    }
    if (job.state === 'aborting') return;
    // Released now; the batch stays open until the worker's terminal message for it.
    job.state = 'aborting';
    job.reject(reason);
    this.o.abort(job.id);
  }

  /** Whether `id` is one of this batcher's requests in the worker. */
  owns(id: number): boolean {
    return this.inWorker.has(id);
  }

  /** The worker's terminal message for one request. */
  settle(id: number, outcome: { ok: true; result: EmbedResult } | { ok: false; kind: WorkerErrorKind; message: string }): void {
    const job = this.inWorker.get(id);
    if (!job) return;
    this.inWorker.delete(id);
    job.signal.removeEventListener('abort', job.onAbort);
    if (job.state === 'sent') {
      if (outcome.ok) {
        this.o.onSuccess();
        job.resolve(outcome.result);
      } else if (outcome.kind === 'aborted') {
        job.reject(this.abortReason(job.signal));
      } else {
        const invalid = outcome.kind === 'invalid_request';
        job.reject(this.error(outcome.kind, `local model ${this.o.modelId}: ${outcome.message}`, invalid ? { param: 'input' } : { retryable: true }));
      }
    }
    if (this.inWorker.size === 0) {
      this.avgMs = this.avgMs * 0.8 + (performance.now() - this.sentAt) * 0.2;
      this.pump();
    }
  }

  /** The worker exited: the requests in it fail with `err`; with `queuedToo`, the waiting ones as well. */
  fail(err: ProviderError, queuedToo: boolean): void {
    const jobs = [...this.inWorker.values(), ...(queuedToo ? this.queue.splice(0) : [])];
    this.inWorker.clear();
    if (queuedToo) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    for (const job of jobs) {
      job.signal.removeEventListener('abort', job.onAbort);
      if (job.state !== 'aborting') job.reject(err);
    }
  }
}
