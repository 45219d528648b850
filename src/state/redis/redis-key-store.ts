import { randomUUID } from 'node:crypto';

import type { Redis } from 'ioredis';

import { holdsLiveSecret, parseKeyRecord } from '../key-record.js';
import { silentLogger, type StateLogger } from '../state-logger.js';
import type { KeyRecord, KeyStore } from '../types.js';
import { quit, type RedisConnection } from './redis-connection.js';
import { RedisEpoch } from './redis-epoch.js';

export interface RedisKeyStoreOptions {
  logger?: StateLogger;
  /** Clock of the secret grace checks (epoch ms). */
  now?: () => number;
  /** How often to look for a data loss that dropped no connection, e.g. FLUSHALL (default 5 s). */
  epochCheckMs?: number;
}

/** Most ids remembered for dropping cached lookups after a data loss; past it the cache's ttl does it. */
const MAX_SEEN = 100_000;

/**
 * Replaces a record in one step: drops the hash-index entries of the secrets the old version
 * had (a rotation's expired secret must stop resolving), writes the record, indexes its
 * secrets, and announces the change. KEYS: record, id set, hash index. ARGV: id, JSON,
 * channel, message, hashes….
 */
const PUT_LUA = `
local old = redis.call('GET', KEYS[1])
if old then
  local ok, rec = pcall(cjson.decode, old)
  if ok and type(rec) == 'table' and type(rec.secrets) == 'table' then
    for _, s in ipairs(rec.secrets) do
      if type(s) == 'table' and type(s.hash) == 'string' and redis.call('HGET', KEYS[3], s.hash) == ARGV[1] then
        redis.call('HDEL', KEYS[3], s.hash)
      end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
for i = 5, #ARGV do redis.call('HSET', KEYS[3], ARGV[i], ARGV[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`;

/** One round trip for the hot path (auth): hash → id → record. KEYS: hash index. ARGV: hash, record key prefix. */
const BY_HASH_LUA = `
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
return redis.call('GET', ARGV[2] .. id)
`;

interface KeyScripts {
  llmKeyPut(record: string, ids: string, index: string, ...args: string[]): Promise<number>;
  llmKeyByHash(index: string, hash: string, recordPrefix: string): Promise<string | null>;
}

/**
 * Virtual keys in Redis, shared by every router instance with the same prefix:
 * `<prefix>key:<id>` holds the record as JSON, `<prefix>keys` the set of ids,
 * `<prefix>key-hash` maps each secret hash to its key id, and every put publishes on
 * `<prefix>key-changed` so the other instances' caches drop the record at once.
 *
 * A Redis that lost its data (restarted without persistence, flushed, failed over to an empty
 * replica; see RedisEpoch) loses the keys made through the API: they are gone (401), and every
 * key this instance looked up is announced as changed so no cached lookup outlives them. Config
 * keys are the config's: the store writes again those it last read or wrote, as the start-up
 * sync would (retried at each epoch check until Redis takes them).
 */
export class RedisKeyStore implements KeyStore {
  private readonly listeners = new Set<(id: string) => void>();
  private readonly sub: Redis;
  private readonly instance = randomUUID();
  private readonly k: { record: string; ids: string; index: string; channel: string };
  private subscribedOnce = false;
  private markSubscribed!: () => void;
  private readonly subscribed = new Promise<void>((resolve) => (this.markSubscribed = resolve));
  /** Config keys as last read or written here, by id: what a Redis that lost its data gets again. */
  private readonly configKeys = new Map<string, KeyRecord>();
  /** Ids read or written here (their lookups may be cached). */
  private readonly seen = new Set<string>();
  private restorePending = false;
  private restoreWarned = false;
  private restoring: Promise<void> | undefined;
  private readonly epoch: RedisEpoch;

  constructor(
    private readonly conn: RedisConnection,
    prefix: string,
    private readonly options: RedisKeyStoreOptions = {},
  ) {
    this.k = { record: `${prefix}key:`, ids: `${prefix}keys`, index: `${prefix}key-hash`, channel: `${prefix}key-changed` };
    conn.client.defineCommand('llmKeyPut', { numberOfKeys: 3, lua: PUT_LUA });
    conn.client.defineCommand('llmKeyByHash', { numberOfKeys: 1, lua: BY_HASH_LUA, readOnly: true });
    this.sub = conn.subscriber();
    this.sub.on('ready', () => this.subscribe());
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    this.epoch = new RedisEpoch(conn, `${prefix}epoch`, (lost) => this.afterEpochCheck(lost), options.epochCheckMs);
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    const json = await this.conn.run('key get', (c) => c.get(this.k.record + id));
    return json === null ? undefined : this.remember(parseKeyRecord(JSON.parse(json)));
  }

  async findByHash(hash: string): Promise<KeyRecord | undefined> {
    const json = await this.conn.run('key findByHash', (c) => this.scripts(c).llmKeyByHash(this.k.index, hash, this.k.record));
    if (json === null) return undefined;
    const record = this.remember(parseKeyRecord(JSON.parse(json)));
    return holdsLiveSecret(record, hash, (this.options.now ?? Date.now)()) ? record : undefined;
  }

  async list(): Promise<KeyRecord[]> {
    return this.conn.run('key list', async (c) => {
      const ids = await c.smembers(this.k.ids);
      const out: KeyRecord[] = [];
      for (let i = 0; i < ids.length; i += 500) {
        const jsons = await c.mget(ids.slice(i, i + 500).map((id) => this.k.record + id));
        for (const json of jsons) if (json !== null) out.push(this.remember(parseKeyRecord(JSON.parse(json))));
      }
      return out;
    });
  }

  async put(record: KeyRecord): Promise<void> {
    const json = JSON.stringify(parseKeyRecord(record));
    const message = JSON.stringify({ from: this.instance, id: record.id });
    const hashes = record.secrets.map((s) => s.hash);
    await this.conn.run('key put', (c) =>
      this.scripts(c).llmKeyPut(this.k.record + record.id, this.k.ids, this.k.index, record.id, json, this.k.channel, message, ...hashes),
    );
    this.remember(record);
    this.emit(record.id); // our own message is skipped, so this instance learns it here
  }

  /**
   * Resolves once the change channel is first subscribed (changes made before that are not
   * announced here), or after `timeoutMs` with false.
   */
  whenSubscribed(timeoutMs: number): Promise<boolean> {
    return Promise.race([this.subscribed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
  }

  onChange(listener: (id: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.epoch.close();
    this.listeners.clear();
    await this.restoring;
    await quit(this.sub, this.conn.config.commandTimeoutMs);
  }

  private remember(record: KeyRecord): KeyRecord {
    if (record.source === 'config') this.configKeys.set(record.id, record);
    if (this.seen.size < MAX_SEEN) this.seen.add(record.id);
    return record;
  }

  /** A data loss: cached lookups go, config keys are written again (until one attempt succeeds). */
  private afterEpochCheck(lost: boolean): void {
    if (lost) {
      this.logger().warn({ configKeys: this.configKeys.size }, 'Redis lost its data (restarted empty, flushed or failed over): keys made through the admin API are gone; config keys are written again');
      this.restorePending = true;
      this.restoreWarned = false;
      for (const id of this.seen) this.emit(id);
    }
    if (!this.restorePending || this.restoring) return;
    this.restoring = (async () => {
      try {
        for (const record of [...this.configKeys.values()]) await this.put(record);
        this.restorePending = false;
        this.logger().info({ configKeys: this.configKeys.size }, 'config keys written again after the Redis data loss');
      } catch (err) {
        if (!this.restoreWarned) this.logger().warn({ err: (err as Error).message }, 'config keys could not be written again yet; retrying at each check');
        this.restoreWarned = true;
      }
    })().finally(() => (this.restoring = undefined));
  }

  private scripts(c: Redis): KeyScripts {
    return c as unknown as KeyScripts;
  }

  /**
   * Subscribes on every (re)connect. After a reconnect, changes published while this
   * instance was away were missed: every key is announced as changed so caches start over.
   */
  private subscribe(): void {
    const again = this.subscribedOnce;
    this.subscribedOnce = true;
    this.sub
      .subscribe(this.k.channel)
      .then(() => this.markSubscribed())
      .catch((err: Error) => this.logger().warn({ err: err.message }, 'key change channel: subscribe failed'));
    if (!again) return;
    // The two connections come back independently: give the command one a moment.
    this.conn
      .waitReady(this.conn.config.connectTimeoutMs)
      .then(() => this.conn.run('key resync', (c) => c.smembers(this.k.ids)))
      .then((ids) => ids.forEach((id) => this.emit(id)))
      .catch((err: Error) => this.logger().warn({ err: err.message }, 'key change channel: resync after reconnect failed'));
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== this.k.channel) return;
    let parsed: { from?: unknown; id?: unknown };
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.from !== this.instance && typeof parsed.id === 'string') this.emit(parsed.id);
  }

  private emit(id: string): void {
    for (const listener of this.listeners) {
      try {
        listener(id);
      } catch (err) {
        this.logger().error({ err, id }, 'key change listener threw');
      }
    }
  }

  private logger(): StateLogger {
    return this.options.logger ?? silentLogger;
  }
}
