/**
 * Serves one registry model from one worker process: a bounded queue in front of the worker's
 * `parallel` sequences, request bookkeeping by id, crash and hang recovery.
 *
 * - At most `parallel` requests are in the worker, at most `queueLimit` wait; beyond that a
 *   request fails at once with kind `capacity` and a retry-after estimate.
 * - A slot is held until the worker's terminal message for it (sent after the sequence is
 *   disposed), also for an aborted request: the caller is released at once, the slot a token later.
 * - Worker exit: every request inside fails with kind `server` (retryable, so routing falls back),
 *   queued ones wait for the restart, which follows with exponential backoff. A worker that does
 *   not answer a health ping in time is killed and handled the same way.
 */
import type { Logger } from 'pino';
import type { FinishReason } from '../../src/core/chat-response.js';
import type { HealthReport } from '../../src/core/provider.js';
import { ProviderError, type ProviderErrorInit } from '../../src/core/provider-error.js';
import { base64ToFloat32 } from '../../src/wire/embeddings/vector-encoding.js';
import type { GenerateParams, WorkerMessage, WorkerModelSpec, WorkerToolCall, WorkerTurn, WorkerUsage } from './protocol.js';
import { EmbedBatcher, type EmbedResult } from './embed-batcher.js';
import { StreamChannel } from './stream-channel.js';
import { describeExit, type LlamaTuning } from './tuning.js';
import { WorkerProcess, type WorkerExit, type WorkerHealth } from './worker-process.js';

export type HostEvent = { type: 'text'; text: string } | { type: 'done'; finish: FinishReason; usage: WorkerUsage; toolCalls?: WorkerToolCall[] };

/** A request the worker accepted: its prompt fits and it holds a sequence. */
export interface HostCall {
  promptTokens: number;
  /** Messages compaction dropped. */
  dropped: number;
  events: AsyncIterable<HostEvent>;
}

interface Job {
  id: number;
  turns: WorkerTurn[];
  params: GenerateParams;
  signal: AbortSignal;
  state: 'queued' | 'sent' | 'started' | 'aborting';
  resolve(call: HostCall): void;
  reject(err: unknown): void;
  channel?: StreamChannel<HostEvent>;
  sentAt: number;
  onAbort(): void;
}

export interface ModelHostOptions {
  providerId: string;
  spec: WorkerModelSpec;
  queueLimit: number;
  loadAtStart: boolean;
  logger: Logger;
  tuning: LlamaTuning;
}

export class ModelHost {
  private worker?: WorkerProcess;
  private ready = false;
  private loaded = false;
  private closed = false;
  private restarts = 0;
  private consecutiveCrashes = 0;
  private restartTimer?: NodeJS.Timeout;
  private lastCrash?: { message: string; duringLoad: boolean; retryAt: number };
  private startTimer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private probing?: Promise<WorkerHealth | undefined>;
  private readonly queue: Job[] = [];
  private readonly active = new Map<number, Job>();
  private nextId = 1;
  /** Moving average of request durations, for capacity retry-after estimates. */
  private avgMs = 2_000;
  /** Embeddings requests, batched into one worker round trip. */
  private readonly embeds: EmbedBatcher;
  /** The model's vector size, once a worker has computed an embedding. */
  embeddingSize?: number;
  /** The current worker has answered an embeddings request (its model is loaded). */
  private embedded = false;

  constructor(private readonly o: ModelHostOptions) {
    this.embeds = new EmbedBatcher({
      providerId: o.providerId,
      modelId: o.spec.id,
      windowMs: o.tuning.embedBatchWindowMs,
      maxBatchTexts: o.tuning.embedMaxBatchTexts,
      // As for generate: `parallel + queueLimit` requests may wait (a batch in the worker not counted).
      maxQueued: o.spec.parallel + o.queueLimit,
      nextId: () => this.nextId++,
      send: (items) => this.ready && this.worker !== undefined && this.worker.send({ t: 'embed', items }),
      abort: (id) => void this.worker?.send({ t: 'abort', id }),
      onSuccess: () => {
        this.consecutiveCrashes = 0;
        this.lastCrash = undefined;
      },
    });
  }

  get pid(): number | undefined {
    return this.worker?.alive ? this.worker.pid : undefined;
  }

  private error(kind: ProviderErrorInit['kind'], message: string, extra: Partial<ProviderErrorInit> = {}): ProviderError {
    return new ProviderError({ kind, provider: this.o.providerId, message, ...extra });
  }

  private abortReason(signal: AbortSignal): ProviderError {
    return signal.reason instanceof ProviderError ? signal.reason : this.error('aborted', 'request aborted by the caller');
  }

  /** Starts the worker now (loadAtStart) instead of on the first request. */
  start(): void {
    if (!this.worker && !this.restartTimer && !this.closed) this.spawn(true);
  }

  /** Queues a request; resolves once the worker accepted it. */
  generate(turns: WorkerTurn[], params: GenerateParams, signal: AbortSignal): Promise<HostCall> {
    if (this.closed) return Promise.reject(this.error('server', `local model ${this.o.spec.id}: provider is closed`));
    if (signal.aborted) return Promise.reject(this.abortReason(signal));
    const crash = this.lastCrash;
    if (crash?.duringLoad && this.restartTimer) {
      const retryAfterMs = Math.max(0, crash.retryAt - Date.now());
      return Promise.reject(this.error('server', `local model ${this.o.spec.id} crashed while starting or loading (${crash.message}); next attempt in ${Math.ceil(retryAfterMs / 1000)}s`, { retryAfterMs }));
    }
    const { parallel } = this.o.spec;
    if (this.active.size + this.queue.length >= parallel + this.o.queueLimit) {
      const retryAfterMs = Math.max(100, Math.ceil(this.avgMs / parallel));
      return Promise.reject(this.error('capacity', `local model ${this.o.spec.id} is busy: ${this.active.size} running, ${this.queue.length} queued (limit ${this.o.queueLimit})`, { retryAfterMs }));
    }
    return new Promise<HostCall>((resolve, reject) => {
      const job: Job = { id: this.nextId++, turns, params, signal, state: 'queued', resolve, reject, sentAt: 0, onAbort: () => this.cancel(job, this.abortReason(signal)) };
      signal.addEventListener('abort', job.onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  /** Queues texts to embed; resolves with their raw vectors once the worker computed them. */
  embed(texts: string[], signal: AbortSignal): Promise<EmbedResult> {
    if (this.closed) return Promise.reject(this.error('server', `local model ${this.o.spec.id}: provider is closed`));
    const crash = this.lastCrash;
    if (crash?.duringLoad && this.restartTimer) {
      const retryAfterMs = Math.max(0, crash.retryAt - Date.now());
      return Promise.reject(this.error('server', `local model ${this.o.spec.id} crashed while starting or loading (${crash.message}); next attempt in ${Math.ceil(retryAfterMs / 1000)}s`, { retryAfterMs }));
    }
    const pending = this.embeds.submit(texts, signal).then((r) => {
      this.embeddingSize = r.size;
      return r;
    });
    this.pump();
    return pending;
  }

  private pump(): void {
    if (this.closed) return;
    if (!this.worker) {
      if (!this.restartTimer && (this.queue.length > 0 || this.embeds.queued > 0)) this.spawn(this.o.loadAtStart);
      return;
    }
    if (!this.ready) return;
    this.embeds.pump();
    while (this.active.size < this.o.spec.parallel) {
      const job = this.queue.shift();
      if (!job) break;
      job.state = 'sent';
      job.sentAt = performance.now();
      this.active.set(job.id, job);
      this.worker.send({ t: 'generate', id: job.id, turns: job.turns, params: job.params });
    }
  }

  /** Stops a request: the caller is released now, the worker frees the sequence at its next token. */
  private cancel(job: Job, reason: ProviderError): void {
    if (job.state === 'queued') {
      const i = this.queue.indexOf(job);
      if (i >= 0) this.queue.splice(i, 1);
      job.signal.removeEventListener('abort', job.onAbort);
      job.reject(reason);
      return;
    }
    if (job.state === 'aborting') return;
    if (job.state === 'sent') job.reject(reason);
    else job.channel?.fail(reason);
    job.state = 'aborting';
    this.worker?.send({ t: 'abort', id: job.id });
  }

  private finish(job: Job, ok: boolean): void {
    this.active.delete(job.id);
    job.signal.removeEventListener('abort', job.onAbort);
    if (ok) {
      this.consecutiveCrashes = 0;
      this.lastCrash = undefined;
      this.avgMs = this.avgMs * 0.8 + (performance.now() - job.sentAt) * 0.2;
    }
    this.pump();
  }

  private spawn(loadNow: boolean): void {
    this.ready = false;
    this.loaded = false;
    const worker: WorkerProcess = new WorkerProcess(
      { spec: this.o.spec, loadNow, workerPath: this.o.tuning.workerPath },
      { message: (m) => this.onMessage(worker, m), exit: (e) => this.onExit(worker, e) },
    );
    this.worker = worker;
    const { startTimeoutMs } = this.o.tuning;
    // Booting (tsx when run from the sources, bindings) is covered by the start timeout; the health watchdog starts at ready.
    this.startTimer = setTimeout(() => worker.kill(`did not start within ${startTimeoutMs} ms`), startTimeoutMs);
    this.startTimer.unref();
    this.o.logger.debug({ pid: worker.pid, model: this.o.spec.id }, 'llama-cpp worker started');
  }

  /** Pings the worker; one that does not answer in time is killed (and restarted by onExit). */
  private probe(worker: WorkerProcess): Promise<WorkerHealth | undefined> {
    // One ping at a time: the watchdog and health() share an outstanding one.
    this.probing ??= worker
      .ping(this.o.tuning.healthTimeoutMs)
      .then((health) => {
        if (!health && worker.alive) worker.kill(`unresponsive: no health answer within ${this.o.tuning.healthTimeoutMs} ms`);
        return health;
      })
      .finally(() => {
        this.probing = undefined;
      });
    return this.probing;
  }

  private onMessage(worker: WorkerProcess, m: WorkerMessage): void {
    if (worker !== this.worker) return;
    const log = this.o.logger;
    switch (m.t) {
      case 'ready':
        this.ready = true;
        clearTimeout(this.startTimer);
        this.watchdog = setInterval(() => void this.probe(worker), this.o.tuning.healthIntervalMs);
        this.watchdog.unref();
        this.pump();
        return;
      case 'loaded':
        this.loaded = true;
        log.info({ model: this.o.spec.id, loadMs: m.loadMs, contextSize: m.contextSize, chatWrapper: m.chatWrapper }, 'local model loaded');
        return;
      case 'load_failed':
        log.warn({ model: this.o.spec.id, err: m.message }, 'local model failed to load');
        return;
      case 'log':
        log[m.level]({ model: this.o.spec.id, worker: worker.pid }, m.message);
        return;
      case 'hello':
      case 'health':
        return; // handled by WorkerProcess
      case 'embedded':
        this.embedded = true;
        this.embeds.settle(m.id, { ok: true, result: { vectors: m.vectors.map(base64ToFloat32), tokens: m.tokens, size: m.size } });
        return;
      default:
        break;
    }
    if (m.t === 'error' && this.embeds.owns(m.id)) {
      this.embeds.settle(m.id, { ok: false, kind: m.kind, message: m.message });
      return;
    }
    const job = this.active.get(m.id);
    if (!job) return;
    if (m.t === 'started') {
      if (job.state !== 'sent') return;
      job.state = 'started';
      job.channel = new StreamChannel<HostEvent>(() => this.cancel(job, this.error('aborted', 'stream closed by the consumer')));
      job.resolve({ promptTokens: m.promptTokens, dropped: m.dropped, events: job.channel });
    } else if (m.t === 'token') {
      job.channel?.push({ type: 'text', text: m.text });
    } else if (m.t === 'done') {
      job.channel?.push({ type: 'done', finish: m.finish, usage: m.usage, toolCalls: m.toolCalls });
      job.channel?.end();
      this.finish(job, true);
    } else if (m.t === 'error') {
      const err =
        m.kind === 'aborted'
          ? this.abortReason(job.signal)
          : this.error(m.kind, `local model ${this.o.spec.id}: ${m.message}`, m.kind === 'server' ? { retryable: true } : {});
      if (job.state === 'sent') job.reject(err);
      else if (job.state === 'started') job.channel?.fail(err);
      this.finish(job, false);
    }
  }

  private onExit(worker: WorkerProcess, exit: WorkerExit): void {
    if (worker !== this.worker) return;
    clearTimeout(this.startTimer);
    clearInterval(this.watchdog);
    // A worker that has answered embeddings has its model loaded, whether or not a chat context was made.
    const chatLoaded = this.loaded;
    const wasLoaded = chatLoaded || this.embedded;
    const wasReady = this.ready;
    const embedding = this.embeds.running;
    this.embedded = false;
    this.worker = undefined;
    this.ready = false;
    this.loaded = false;
    const detail = describeExit(exit);
    const err = this.closed
      ? this.error('server', `local model ${this.o.spec.id}: provider is closed`)
      : this.error('server', `local model ${this.o.spec.id}: worker ${detail}`, { retryable: true });
    const inside = [...this.active.values()];
    this.active.clear();
    // A worker that died booting will likely die again: fail the waiting requests too, so that
    // routing falls back now rather than when their deadlines pass.
    if (!wasReady) inside.push(...this.queue.splice(0));
    for (const job of inside) {
      job.signal.removeEventListener('abort', job.onAbort);
      if (job.state === 'sent' || job.state === 'queued') job.reject(err);
      else if (job.state === 'started') job.channel?.fail(err);
    }
    this.embeds.fail(err, !wasReady);
    if (this.closed) return;
    this.restarts++;
    this.consecutiveCrashes++;
    const delay = Math.min(this.o.tuning.restartMaxMs, this.o.tuning.restartBaseMs * 2 ** (this.consecutiveCrashes - 1));
    this.lastCrash = { message: detail, duringLoad: !wasReady || (!wasLoaded && inside.length + embedding > 0), retryAt: Date.now() + delay };
    this.o.logger.warn({ model: this.o.spec.id, pid: worker.pid, failed: inside.length + embedding, restartInMs: delay }, `llama-cpp worker ${detail}`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed) return;
      // Bring a model that was serving back at once; otherwise wait for demand.
      if (wasLoaded || this.o.loadAtStart || this.queue.length > 0 || this.embeds.queued > 0) this.spawn(chatLoaded || this.o.loadAtStart);
    }, delay);
    this.restartTimer.unref();
  }

  async health(): Promise<HealthReport> {
    const base = { loaded: false, queueDepth: this.queue.length + this.embeds.queued, running: this.active.size + this.embeds.running, restarts: this.restarts, pid: this.pid };
    if (this.closed) return { ok: false, detail: 'provider closed', ...base };
    const worker = this.worker;
    if (!worker) {
      if (this.restartTimer) return { ok: false, detail: `restarting after: ${this.lastCrash?.message ?? 'worker exit'}`, ...base };
      return { ok: true, detail: 'idle: the model loads on the first request', ...base };
    }
    if (!this.ready) return { ok: true, detail: 'worker starting', ...base };
    const health = await this.probe(worker);
    if (!health) return { ok: false, detail: 'worker unresponsive; restarting', ...base };
    const detail = health.loadError ? `model failed to load: ${health.loadError}` : health.loaded ? 'model loaded' : 'worker up, model not loaded yet';
    return { ...base, ok: !health.loadError, detail, loaded: health.loaded, running: health.running, latencyMs: health.latencyMs };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    const err = this.error('server', `local model ${this.o.spec.id}: provider is closed`);
    for (const job of this.queue.splice(0)) {
      job.signal.removeEventListener('abort', job.onAbort);
      job.reject(err);
    }
    this.embeds.fail(err, true);
    await this.worker?.shutdown(this.o.tuning.shutdownGraceMs);
  }
}
