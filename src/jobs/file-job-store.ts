import { readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

import { writeFileAtomic } from '../state/memory/atomic-file.js';
import { silentLogger, type StateLogger } from '../state/state-logger.js';
import { JobQueueFullError } from './job-errors.js';
import { FileJobLock } from './file-job-lock.js';
import { parseJobRecord } from './job-record.js';
import { interruptedError, isJobId, TERMINAL_STATUSES, type JobOutcome, type JobRecord, type JobStatus, type JobStore, type JobStoreEvent } from './job-store.js';

export interface FileJobStoreOptions {
  /** `<dataDir>/jobs`. */
  dir: string;
  /** Finished jobs are deleted this long after they end. */
  resultTtlMs: number;
  /** Lease length of the runners over it (default 30 s): the folder lock is refreshed every third of it, stale after one. */
  leaseMs?: number;
  /**
   * How long open() waits for a lock written on another host (a container recreated with a new
   * hostname, a shared folder) to go stale before refusing; default a lease and a refresh.
   */
  lockWaitMs?: number;
  now?: () => number;
  logger?: StateLogger;
}

/** What the store keeps in memory per job: enough to queue, claim and reap without reading files. */
interface IndexEntry {
  status: JobStatus;
  owner: string;
  lease?: { owner: string; until: number };
  runAfter?: number;
  /** Epoch ms. */
  expiresAt?: number;
}

/**
 * Jobs of one router process, one JSON file per job under `<dataDir>/jobs/` (`<id>.json`,
 * replaced atomically on every change), guarded by `.lock` (see FileJobLock: a second process
 * over the folder is refused). Memory holds a small index per job, never a request or a
 * result, so thousands of finished jobs cost little; `get` reads the file.
 *
 * Changes to one job are serialized (a promise chain per id) and each is on disk before the
 * index shows it. At open, the folder is scanned: a job running when the previous process
 * died holds a lease of that process, which the lock proves gone, so `reap` takes it up at
 * once (no wait for the lease to run out). Within this process a lease is never taken away:
 * the runner renews it, and only a dead process loses its jobs.
 */
export class FileJobStore implements JobStore {
  readonly kind = 'file' as const;
  private readonly index = new Map<string, IndexEntry>();
  /** Ids of queued jobs, oldest first (Map order: insertion; a retry goes to the back). */
  private readonly queue = new Map<string, true>();
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Progress reported since the last write, per running job. */
  private readonly liveProgress = new Map<string, number>();
  /** Instance ids that claimed through this store: their leases are alive. */
  private readonly liveOwners = new Set<string>();
  private readonly listeners = new Set<(e: JobStoreEvent) => void>();
  private creating = 0;
  private closed = false;
  private readonly now: () => number;
  private readonly logger: StateLogger;

  private constructor(
    private readonly options: FileJobStoreOptions,
    private readonly lock: FileJobLock,
  ) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
  }

  /** Takes the folder lock (JobStoreLockedError if a live router holds it) and loads the index. */
  static async open(options: FileJobStoreOptions): Promise<FileJobStore> {
    const leaseMs = options.leaseMs ?? 30_000;
    const now = options.now ?? Date.now;
    const logger = options.logger ?? silentLogger;
    const refreshMs = Math.max(100, Math.floor(leaseMs / 3));
    const lock = await FileJobLock.acquire(options.dir, {
      refreshMs,
      staleMs: leaseMs,
      waitMs: options.lockWaitMs ?? leaseMs + refreshMs + 1_000,
      now,
      logger,
    });
    const store = new FileJobStore(options, lock);
    try {
      await store.load();
    } catch (err) {
      await lock.release();
      throw err;
    }
    return store;
  }

  async create(job: JobRecord, maxQueued: number): Promise<void> {
    this.assertOpen();
    if (!isJobId(job.id) || this.index.has(job.id)) throw new Error(`job id ${job.id} is not new`);
    // Counted before the write, so concurrent submits cannot overshoot the bound.
    if (this.queue.size + this.creating >= maxQueued) throw new JobQueueFullError(maxQueued);
    this.creating++;
    try {
      await this.serial(job.id, () => writeFileAtomic(this.file(job.id), JSON.stringify(job)));
      this.reindex(job);
    } finally {
      this.creating--;
    }
    this.emit({ type: 'queued' });
  }

  async get(id: string): Promise<JobRecord | undefined> {
    if (!isJobId(id) || !this.index.has(id)) return undefined;
    const record = await this.read(id);
    if (!record) return undefined;
    const live = this.liveProgress.get(id);
    if (live !== undefined && live > record.progress.completionTokens) record.progress = { completionTokens: live };
    return record;
  }

  async claim(instanceId: string, leaseMs: number): Promise<JobRecord | undefined> {
    this.assertOpen();
    this.liveOwners.add(instanceId);
    for (;;) {
      const now = this.now();
      let id: string | undefined;
      for (const candidate of this.queue.keys()) {
        const entry = this.index.get(candidate);
        if (entry && (entry.runAfter ?? 0) <= now) {
          id = candidate;
          break;
        }
      }
      if (id === undefined) return undefined;
      // Out of the queue at once: a concurrent claim picks another job.
      this.queue.delete(id);
      let claimed: JobRecord | undefined;
      try {
        claimed = await this.update(id, (r) => {
          if (r.status !== 'queued') return undefined;
          const { runAfter: _, ...rest } = r;
          // A new run: its progress starts from 0.
          return { ...rest, status: 'running', attempts: r.attempts + 1, lease: { owner: instanceId, until: this.now() + leaseMs }, progress: { completionTokens: 0 }, updatedAt: this.iso() };
        });
      } catch (err) {
        const entry = this.index.get(id);
        if (entry?.status === 'queued') this.queue.set(id, true);
        throw err;
      }
      if (claimed) {
        this.liveProgress.delete(id);
        return claimed;
      }
    }
  }

  async renew(id: string, instanceId: string, leaseMs: number, completionTokens: number): Promise<{ held: boolean; cancelRequested: boolean }> {
    const entry = this.index.get(id);
    if (!entry || entry.lease?.owner !== instanceId) return { held: false, cancelRequested: entry?.status === 'cancelled' };
    this.noteProgress(id, completionTokens);
    const updated = await this.update(id, (r) =>
      r.lease?.owner === instanceId ? { ...r, lease: { owner: instanceId, until: this.now() + leaseMs }, progress: this.progressOf(id, r) } : undefined,
    );
    return { held: updated !== undefined, cancelRequested: (updated ?? (await this.read(id)))?.cancelRequested === true };
  }

  async progress(id: string, instanceId: string, completionTokens: number): Promise<void> {
    if (this.index.get(id)?.lease?.owner === instanceId) this.noteProgress(id, completionTokens);
  }

  async finish(id: string, instanceId: string, outcome: JobOutcome, completionTokens: number): Promise<JobRecord | undefined> {
    this.noteProgress(id, completionTokens);
    const done = await this.update(id, (r) => {
      if (r.lease?.owner !== instanceId) return undefined;
      const { lease: _, ...rest } = r;
      const base = { ...rest, progress: this.progressOf(id, r), updatedAt: this.iso(), expiresAt: this.expiry() };
      if (r.status === 'cancelled' || outcome.status === 'cancelled') return { ...base, status: 'cancelled' };
      return outcome.status === 'succeeded' ? { ...base, status: 'succeeded', result: outcome.result } : { ...base, status: 'failed', error: outcome.error };
    });
    if (done) this.liveProgress.delete(id);
    return done;
  }

  async release(id: string, instanceId: string, opts: { delayMs: number; uncount: boolean }): Promise<JobRecord | undefined> {
    const released = await this.update(id, (r) => {
      if (r.lease?.owner !== instanceId) return undefined;
      const { lease: _, ...rest } = r;
      const base = { ...rest, progress: this.progressOf(id, r), updatedAt: this.iso() };
      if (r.status === 'cancelled') return { ...base, expiresAt: this.expiry() };
      return { ...base, status: 'queued', attempts: opts.uncount ? Math.max(0, r.attempts - 1) : r.attempts, ...(opts.delayMs > 0 ? { runAfter: this.now() + opts.delayMs } : {}) };
    });
    if (released) this.liveProgress.delete(id);
    if (released?.status === 'queued') this.emit({ type: 'queued' });
    return released;
  }

  async cancel(id: string, owner: string): Promise<{ record: JobRecord; settled: boolean } | undefined> {
    const entry = isJobId(id) ? this.index.get(id) : undefined;
    if (!entry || entry.owner !== owner) return undefined;
    let settled = false;
    const changed = await this.update(id, (r) => {
      if (r.owner !== owner) return undefined;
      if (r.status === 'queued') {
        settled = true;
        const { runAfter: _, ...rest } = r;
        return { ...rest, status: 'cancelled', cancelRequested: true, updatedAt: this.iso(), expiresAt: this.expiry() };
      }
      if (r.status === 'running') return { ...r, status: 'cancelled', cancelRequested: true, updatedAt: this.iso() };
      return undefined;
    });
    if (changed && !settled) this.emit({ type: 'cancel', id });
    const record = changed ?? (await this.get(id));
    return record && record.owner === owner ? { record, settled } : undefined;
  }

  async reap(maxAttempts: number): Promise<JobRecord[]> {
    const settled: JobRecord[] = [];
    let requeued = false;
    for (const [id, entry] of [...this.index]) {
      if ((entry.status !== 'running' && entry.status !== 'cancelled') || !entry.lease || this.liveOwners.has(entry.lease.owner)) continue;
      const done = await this.update(id, (r) => {
        if (!r.lease || this.liveOwners.has(r.lease.owner)) return undefined;
        const { lease: _, ...rest } = r;
        const base = { ...rest, updatedAt: this.iso() };
        if (r.status === 'cancelled') return { ...base, expiresAt: this.expiry() };
        if (r.status !== 'running') return base;
        if (r.attempts < maxAttempts) return { ...base, status: 'queued' };
        return { ...base, status: 'failed', error: interruptedError(r.attempts), expiresAt: this.expiry() };
      });
      if (!done) continue;
      if (done.status === 'queued') requeued = true;
      else settled.push(done);
      this.logger.warn({ job: done.id, attempts: done.attempts, status: done.status }, 'job interrupted by a stop of the router; taken up again');
    }
    if (requeued) this.emit({ type: 'queued' });
    return settled;
  }

  async sweep(): Promise<number> {
    const now = this.now();
    let deleted = 0;
    for (const [id, entry] of [...this.index]) {
      if (entry.expiresAt === undefined || entry.expiresAt > now || !TERMINAL_STATUSES.has(entry.status)) continue;
      await this.serial(id, async () => {
        const current = this.index.get(id);
        if (current?.expiresAt === undefined || current.expiresAt > this.now()) return;
        await rm(this.file(id), { force: true });
        this.index.delete(id);
        deleted++;
      });
    }
    return deleted;
  }

  async queued(): Promise<number> {
    return this.queue.size;
  }

  onEvent(listener: (e: JobStoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.chains.values()]);
    this.listeners.clear();
    await this.lock.release();
  }

  /** Scans the folder: index every job; leftovers of interrupted writes removed, unreadable files set aside. */
  private async load(): Promise<void> {
    const names = await readdir(this.options.dir);
    const records: JobRecord[] = [];
    for (const name of names) {
      if (name.startsWith('.job_') && name.endsWith('.tmp')) {
        await rm(path.join(this.options.dir, name), { force: true });
        continue;
      }
      if (!name.endsWith('.json') || !isJobId(name.slice(0, -5))) continue;
      const file = path.join(this.options.dir, name);
      try {
        const record = parseJobRecord(JSON.parse(await readFile(file, 'utf8')));
        if (record.id !== name.slice(0, -5)) throw new Error(`holds job ${record.id}`);
        records.push(record);
      } catch (err) {
        // Never deleted: an operator may recover it. Renamed so the next start does not trip on it.
        this.logger.error({ file, err: (err as Error).message }, 'unreadable job file set aside as .corrupt');
        await rename(file, `${file}.corrupt`).catch(() => undefined);
      }
    }
    records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    for (const record of records) this.reindex(record);
  }

  private async read(id: string): Promise<JobRecord | undefined> {
    try {
      return parseJobRecord(JSON.parse(await readFile(this.file(id), 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Reads the job, lets `change` return its next version (undefined: no change), writes it,
   * then updates the index; serialized per job. Returns the new version or undefined.
   */
  private update(id: string, change: (r: JobRecord) => JobRecord | undefined): Promise<JobRecord | undefined> {
    if (!isJobId(id) || !this.index.has(id)) return Promise.resolve(undefined);
    return this.serial(id, async () => {
      const current = await this.read(id);
      if (!current) return undefined;
      const next = change(current);
      if (!next) return undefined;
      await writeFileAtomic(this.file(id), JSON.stringify(next));
      this.reindex(next);
      return next;
    });
  }

  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.chains.get(id) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return run;
  }

  private reindex(r: JobRecord): void {
    this.index.set(r.id, {
      status: r.status,
      owner: r.owner,
      ...(r.lease ? { lease: r.lease } : {}),
      ...(r.runAfter !== undefined ? { runAfter: r.runAfter } : {}),
      ...(r.expiresAt !== undefined ? { expiresAt: Date.parse(r.expiresAt) } : {}),
    });
    if (r.status === 'queued') {
      if (!this.queue.has(r.id)) this.queue.set(r.id, true);
    } else {
      this.queue.delete(r.id);
    }
  }

  private noteProgress(id: string, tokens: number): void {
    if (tokens > (this.liveProgress.get(id) ?? 0)) this.liveProgress.set(id, tokens);
  }

  private progressOf(id: string, r: JobRecord): { completionTokens: number } {
    return { completionTokens: Math.max(r.progress.completionTokens, this.liveProgress.get(id) ?? 0) };
  }

  private emit(event: JobStoreEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ err: (err as Error).message }, 'job store listener threw');
      }
    }
  }

  private file(id: string): string {
    return path.join(this.options.dir, `${id}.json`);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  private expiry(): string {
    return new Date(this.now() + this.options.resultTtlMs).toISOString();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('job store is closed');
  }
}
