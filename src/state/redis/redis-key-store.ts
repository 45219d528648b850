import { randomUUID } from 'node:crypto';

import type { Redis } from 'ioredis';

import { holdsLiveSecret, parseKeyRecord } from '../key-record.js';
import { silentLogger, type StateLogger } from '../state-logger.js';
import type { KeyRecord, KeyStore } from '../types.js';
import { quit, type RedisConnection } from './redis-connection.js';

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
 */
export class RedisKeyStore implements KeyStore {
  private readonly listeners = new Set<(id: string) => void>();
  private readonly sub: Redis;
  private readonly instance = randomUUID();
  private readonly k: { record: string; ids: string; index: string; channel: string };
  private subscribedOnce = false;
  private markSubscribed!: () => void;
  private readonly subscribed = new Promise<void>((resolve) => (this.markSubscribed = resolve));

  constructor(
    private readonly conn: RedisConnection,
    prefix: string,
    private readonly options: { logger?: StateLogger; now?: () => number } = {},
  ) {
    this.k = { record: `${prefix}key:`, ids: `${prefix}keys`, index: `${prefix}key-hash`, channel: `${prefix}key-changed` };
    conn.client.defineCommand('llmKeyPut', { numberOfKeys: 3, lua: PUT_LUA });
    conn.client.defineCommand('llmKeyByHash', { numberOfKeys: 1, lua: BY_HASH_LUA, readOnly: true });
    this.sub = conn.subscriber();
    this.sub.on('ready', () => this.subscribe());
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    const json = await this.conn.run('key get', (c) => c.get(this.k.record + id));
    return json === null ? undefined : parseKeyRecord(JSON.parse(json));
  }

  async findByHash(hash: string): Promise<KeyRecord | undefined> {
    const json = await this.conn.run('key findByHash', (c) => this.scripts(c).llmKeyByHash(this.k.index, hash, this.k.record));
    if (json === null) return undefined;
    const record = parseKeyRecord(JSON.parse(json));
    return holdsLiveSecret(record, hash, (this.options.now ?? Date.now)()) ? record : undefined;
  }

  async list(): Promise<KeyRecord[]> {
    return this.conn.run('key list', async (c) => {
      const ids = await c.smembers(this.k.ids);
      const out: KeyRecord[] = [];
      for (let i = 0; i < ids.length; i += 500) {
        const jsons = await c.mget(ids.slice(i, i + 500).map((id) => this.k.record + id));
        for (const json of jsons) if (json !== null) out.push(parseKeyRecord(JSON.parse(json)));
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
    this.listeners.clear();
    await quit(this.sub, this.conn.config.commandTimeoutMs);
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
