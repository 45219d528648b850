import type { Redis } from 'ioredis';

import type { RedisConnection } from '../state/redis/redis-connection.js';
import { quit } from '../state/redis/redis-options.js';
import { silentLogger, type StateLogger } from '../state/state-logger.js';
import { JobQueueFullError } from './job-errors.js';
import { parseJobRecord } from './job-record.js';
import { isJobId, type JobOutcome, type JobRecord, type JobStore, type JobStoreEvent } from './job-store.js';
import { CANCEL_LUA, CLAIM_LUA, CREATE_LUA, FINISH_LUA, REAP_LUA, RELEASE_LUA, RENEW_LUA } from './redis-job-lua.js';

export interface RedisJobStoreOptions {
  /** Finished jobs expire this long after they end (PEXPIRE). */
  resultTtlMs: number;
  /** Clock of the ISO times shown (`updatedAt`); leases use the Redis server's TIME. */
  now?: () => number;
  logger?: StateLogger;
}

interface JobScripts {
  llmJobCreate(job: string, queue: string, ...args: string[]): Promise<number>;
  llmJobClaim(queue: string, running: string, jobPrefix: string, instance: string, leaseMs: string, at: string): Promise<string[] | null>;
  llmJobRenew(job: string, running: string, instance: string, leaseMs: string, id: string, progress: string): Promise<[number, number]>;
  llmJobFinish(job: string, running: string, instance: string, id: string, status: string, field: string, json: string, at: string, ttl: string, progress: string): Promise<string[] | null>;
  llmJobRelease(job: string, running: string, queue: string, instance: string, id: string, delay: string, uncount: string, at: string, ttl: string, channel: string): Promise<string[] | null>;
  llmJobCancel(job: string, queue: string, owner: string, id: string, at: string, ttl: string, channel: string): Promise<Array<number | string> | null>;
  llmJobReap(running: string, queue: string, jobPrefix: string, maxAttempts: string, ttl: string, at: string, channel: string): Promise<string[]>;
}

/** A record as hash fields (JSON for the structured ones; absent fields absent). */
function toFields(r: JobRecord): string[] {
  const f: Array<[string, string | undefined]> = [
    ['id', r.id],
    ['owner', r.owner],
    ['team', r.team],
    ['status', r.status],
    ['request', JSON.stringify(r.request)],
    ['createdAt', r.createdAt],
    ['updatedAt', r.updatedAt],
    ['attempts', String(r.attempts)],
    ['progress', String(r.progress.completionTokens)],
    ['webhookUrl', r.webhookUrl],
    ['cancel', r.cancelRequested ? '1' : undefined],
  ];
  return f.flatMap(([k, v]) => (v === undefined ? [] : [k, v]));
}

/** HGETALL's flat [field, value, …] back to a record. */
function fromFields(flat: readonly (string | number)[]): JobRecord {
  const h: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i + 1 < flat.length; i += 2) h[String(flat[i])] = String(flat[i + 1]);
  const json = (v: string | undefined) => (v === undefined ? undefined : (JSON.parse(v) as unknown));
  return parseJobRecord({
    id: h.id,
    owner: h.owner,
    ...(h.team !== undefined ? { team: h.team } : {}),
    status: h.status,
    request: json(h.request),
    createdAt: h.createdAt,
    updatedAt: h.updatedAt,
    attempts: Number(h.attempts ?? 0),
    progress: { completionTokens: Number(h.progress ?? 0) },
    ...(h.result !== undefined ? { result: json(h.result) } : {}),
    ...(h.error !== undefined ? { error: json(h.error) } : {}),
    ...(h.webhookUrl !== undefined ? { webhookUrl: h.webhookUrl } : {}),
    ...(h.leaseOwner !== undefined ? { lease: { owner: h.leaseOwner, until: Number(h.leaseUntil ?? 0) } } : {}),
    ...(h.cancel === '1' ? { cancelRequested: true } : {}),
    ...(h.runAfter !== undefined ? { runAfter: Number(h.runAfter) } : {}),
    ...(h.expiresAt !== undefined ? { expiresAt: new Date(Number(h.expiresAt)).toISOString() } : {}),
  });
}

/**
 * Jobs shared by every router instance on one Redis (layout and atomicity: redis-job-lua.ts).
 * Every call goes through `RedisConnection.run`: while Redis is unreachable a call rejects with
 * `StateUnavailableError` at once (submit and GET answer 503; the runner retries its claims and
 * heartbeats, and stops a run it can no longer prove it owns; see the runner).
 *
 * Events (`queued`, `cancel`) travel on `<prefix>events`; a message missed while the subscriber
 * was away costs only latency: runners poll for work, and a cancel is also seen at the next
 * heartbeat.
 */
export class RedisJobStore implements JobStore {
  readonly kind = 'redis' as const;
  private readonly k: { job: string; queue: string; running: string; channel: string };
  private readonly sub: Redis;
  private readonly listeners = new Set<(e: JobStoreEvent) => void>();
  private readonly now: () => number;
  private readonly logger: StateLogger;
  private markSubscribed!: () => void;
  private readonly subscribed = new Promise<void>((resolve) => (this.markSubscribed = resolve));

  /** `prefix`: the state key prefix + `jobs:`, e.g. `llm-router:jobs:`. */
  constructor(
    private readonly conn: RedisConnection,
    prefix: string,
    private readonly options: RedisJobStoreOptions,
  ) {
    this.k = { job: `${prefix}job:`, queue: `${prefix}queue`, running: `${prefix}running`, channel: `${prefix}events` };
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    const c = conn.client;
    c.defineCommand('llmJobCreate', { numberOfKeys: 2, lua: CREATE_LUA });
    c.defineCommand('llmJobClaim', { numberOfKeys: 2, lua: CLAIM_LUA });
    c.defineCommand('llmJobRenew', { numberOfKeys: 2, lua: RENEW_LUA });
    c.defineCommand('llmJobFinish', { numberOfKeys: 2, lua: FINISH_LUA });
    c.defineCommand('llmJobRelease', { numberOfKeys: 3, lua: RELEASE_LUA });
    c.defineCommand('llmJobCancel', { numberOfKeys: 2, lua: CANCEL_LUA });
    c.defineCommand('llmJobReap', { numberOfKeys: 2, lua: REAP_LUA });
    this.sub = conn.subscriber();
    this.sub.on('ready', () => {
      this.sub
        .subscribe(this.k.channel)
        .then(() => this.markSubscribed())
        .catch((err: Error) => this.logger.warn({ err: err.message }, 'job events channel: subscribe failed'));
    });
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
  }

  /** Resolves true once the events channel listens (tests), or false after `timeoutMs`. */
  whenSubscribed(timeoutMs: number): Promise<boolean> {
    return Promise.race([this.subscribed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
  }

  async create(job: JobRecord, maxQueued: number): Promise<void> {
    if (!isJobId(job.id)) throw new Error(`job id ${job.id} is not valid`);
    const created = await this.conn.run('job create', (c) =>
      this.scripts(c).llmJobCreate(this.k.job + job.id, this.k.queue, String(maxQueued), job.id, this.k.channel, ...toFields(job)),
    );
    if (created === 0) throw new JobQueueFullError(maxQueued);
    if (created !== 1) throw new Error(`job id ${job.id} is taken`);
  }

  async get(id: string): Promise<JobRecord | undefined> {
    if (!isJobId(id)) return undefined;
    const flat = await this.conn.run('job get', (c) => c.hgetall(this.k.job + id));
    if (Object.keys(flat).length === 0) return undefined;
    return fromFields(Object.entries(flat).flat());
  }

  async claim(instanceId: string, leaseMs: number): Promise<JobRecord | undefined> {
    const flat = await this.conn.run('job claim', (c) => this.scripts(c).llmJobClaim(this.k.queue, this.k.running, this.k.job, instanceId, String(leaseMs), this.iso()));
    return flat ? fromFields(flat) : undefined;
  }

  async renew(id: string, instanceId: string, leaseMs: number, completionTokens: number): Promise<{ held: boolean; cancelRequested: boolean }> {
    const [held, cancel] = await this.conn.run('job renew', (c) =>
      this.scripts(c).llmJobRenew(this.k.job + id, this.k.running, instanceId, String(leaseMs), id, String(Math.floor(completionTokens))),
    );
    return { held: held === 1, cancelRequested: cancel === 1 };
  }

  async progress(id: string, instanceId: string, completionTokens: number): Promise<void> {
    // Only the lease holder writes it; the lease itself is left to the heartbeat.
    await this.conn.run('job progress', (c) => this.scripts(c).llmJobRenew(this.k.job + id, this.k.running, instanceId, '', id, String(Math.floor(completionTokens))));
  }

  async finish(id: string, instanceId: string, outcome: JobOutcome, completionTokens: number): Promise<JobRecord | undefined> {
    const [field, json] = outcome.status === 'succeeded' ? ['result', JSON.stringify(outcome.result)] : outcome.status === 'failed' ? ['error', JSON.stringify(outcome.error)] : ['', ''];
    const flat = await this.conn.run('job finish', (c) =>
      this.scripts(c).llmJobFinish(this.k.job + id, this.k.running, instanceId, id, outcome.status, field, json, this.iso(), String(this.options.resultTtlMs), String(Math.floor(completionTokens))),
    );
    return flat ? fromFields(flat) : undefined;
  }

  async release(id: string, instanceId: string, opts: { delayMs: number; uncount: boolean }): Promise<JobRecord | undefined> {
    const flat = await this.conn.run('job release', (c) =>
      this.scripts(c).llmJobRelease(
        this.k.job + id, this.k.running, this.k.queue,
        instanceId, id, String(Math.max(0, Math.floor(opts.delayMs))), opts.uncount ? '1' : '0', this.iso(), String(this.options.resultTtlMs), this.k.channel,
      ),
    );
    return flat ? fromFields(flat) : undefined;
  }

  async cancel(id: string, owner: string): Promise<{ record: JobRecord; settled: boolean } | undefined> {
    if (!isJobId(id)) return undefined;
    const out = await this.conn.run('job cancel', (c) =>
      this.scripts(c).llmJobCancel(this.k.job + id, this.k.queue, owner, id, this.iso(), String(this.options.resultTtlMs), this.k.channel),
    );
    if (!out) return undefined;
    return { settled: out[0] === 1, record: fromFields(out.slice(1)) };
  }

  async reap(maxAttempts: number): Promise<JobRecord[]> {
    const out = await this.conn.run('job reap', (c) =>
      this.scripts(c).llmJobReap(this.k.running, this.k.queue, this.k.job, String(maxAttempts), String(this.options.resultTtlMs), this.iso(), this.k.channel),
    );
    const settled: JobRecord[] = [];
    for (let i = 0; i + 1 < out.length; i += 2) {
      const id = String(out[i]);
      const status = String(out[i + 1]);
      this.logger.warn({ job: id, status }, 'job lease ran out (its router instance stopped or lost Redis); taken up again');
      if (status === 'queued') continue;
      const record = await this.get(id);
      if (record) settled.push(record);
    }
    return settled;
  }

  async sweep(): Promise<number> {
    return 0; // finished jobs carry a PEXPIRE
  }

  async queued(): Promise<number> {
    return this.conn.run('job queued', (c) => c.zcard(this.k.queue));
  }

  onEvent(listener: (e: JobStoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Closes the subscriber; the command connection belongs to whoever made it. */
  async close(): Promise<void> {
    this.listeners.clear();
    await quit(this.sub, this.conn.config.commandTimeoutMs);
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== this.k.channel) return;
    let event: JobStoreEvent;
    try {
      const parsed = JSON.parse(message) as { type?: unknown; id?: unknown };
      if (parsed.type === 'queued') event = { type: 'queued' };
      else if (parsed.type === 'cancel' && typeof parsed.id === 'string') event = { type: 'cancel', id: parsed.id };
      else return;
    } catch {
      return;
    }
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ err: (err as Error).message }, 'job store listener threw');
      }
    }
  }

  private scripts(c: Redis): JobScripts {
    return c as unknown as JobScripts;
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}
