/**
 * Sessions in Redis, shared by every router instance with the same prefix (layout and
 * atomicity: redis-session-lua.ts). While Redis is unreachable every call fails at once with
 * `StateUnavailableError` (the edge answers 503 state_unavailable): a conversation is never
 * answered without its history, nor its turn silently not stored.
 */
import type { Redis } from 'ioredis';

import type { ChatMessage } from '../core/chat-request.js';
import type { RedisConnection } from '../state/redis/redis-connection.js';
import { ownerTag } from './owner-tag.js';
import { APPEND_LUA, CREATE_LUA, DELETE_LUA, GET_LUA } from './redis-session-lua.js';
import { decodeMessages, encodeMessages, leadingInstructions } from './session-codec.js';
import type { SessionsConfig } from './session-schema.js';
import { oversizedTurn, trimItem } from './session-trim.js';
import {
  InvalidSessionId,
  isValidSessionId,
  newSessionId,
  SessionExists,
  SessionNotFound,
  SessionTooLarge,
  type AppendResult,
  type SessionRecord,
  type SessionStore,
} from './session-types.js';

type RedisSessionsConfig = Pick<SessionsConfig, 'idleTtlMs' | 'maxSessionBytes' | 'maxMessages' | 'maxSessionsPerOwner'>;

export interface RedisSessionStoreOptions {
  connection: RedisConnection;
  /** Prefix of every key, e.g. `<state.redis.keyPrefix>sess:`. */
  keyPrefix: string;
  /** Clock for createdAt/updatedAt (tests); expiry uses the Redis server's clock. */
  now?: () => number;
  random?: (n: number) => Buffer;
}

type GetReply = [string, string, string, string[]] | null;
type AppendReply = ['ok', string, number, number, number] | ['too_large', number, number] | ['not_found'];

interface SessionScripts {
  llmSessionGet(idx: string, meta: string, msgs: string, owner: string, ttl: number, id: string): Promise<GetReply>;
  llmSessionCreate(idx: string, meta: string, msgs: string, owner: string, ttl: number, id: string, now: string, maxPerOwner: number, base: string): Promise<number>;
  llmSessionDelete(idx: string, meta: string, msgs: string, owner: string, id: string): Promise<number>;
  llmSessionAppend(idx: string, meta: string, msgs: string, ...args: Array<string | number>): Promise<AppendReply>;
}

class RedisSessionStore implements SessionStore {
  private readonly now: () => number;

  constructor(
    private readonly cfg: RedisSessionsConfig,
    private readonly opts: RedisSessionStoreOptions,
  ) {
    this.now = opts.now ?? Date.now;
    const client = opts.connection.client;
    client.defineCommand('llmSessionGet', { numberOfKeys: 3, lua: GET_LUA });
    client.defineCommand('llmSessionCreate', { numberOfKeys: 3, lua: CREATE_LUA });
    client.defineCommand('llmSessionDelete', { numberOfKeys: 3, lua: DELETE_LUA });
    client.defineCommand('llmSessionAppend', { numberOfKeys: 3, lua: APPEND_LUA });
  }

  async create(owner: string, opts: { id?: string } = {}): Promise<SessionRecord> {
    const id = opts.id ?? newSessionId(this.opts.random);
    const k = this.keys(id, owner);
    const now = new Date(this.now()).toISOString();
    const created = await this.run('session create', (s) => s.llmSessionCreate(k.idx, k.meta, k.msgs, owner, this.cfg.idleTtlMs, id, now, this.cfg.maxSessionsPerOwner, k.base));
    if (created !== 1) throw new SessionExists(id);
    return { id, owner, messages: [], createdAt: now, updatedAt: now, bytes: 0 };
  }

  async get(id: string, owner: string): Promise<SessionRecord | undefined> {
    const k = this.keys(id, owner);
    const reply = await this.run('session get', (s) => s.llmSessionGet(k.idx, k.meta, k.msgs, owner, this.cfg.idleTtlMs, id));
    if (!reply) return undefined;
    const [createdAt, updatedAt, bytes, stored] = reply;
    return { id, owner, messages: decodeMessages(id, stored), createdAt, updatedAt, bytes: Number(bytes) };
  }

  async append(id: string, owner: string, messages: ChatMessage[]): Promise<AppendResult> {
    const k = this.keys(id, owner);
    const encoded = encodeMessages(messages);
    const oversized = oversizedTurn(encoded.map((e) => trimItem(e.wire, e.bytes)), this.cfg);
    if (oversized) throw new SessionTooLarge(id, oversized, this.cfg);
    const now = new Date(this.now()).toISOString();
    const args = [
      owner,
      this.cfg.idleTtlMs,
      id,
      now,
      this.cfg.maxSessionsPerOwner,
      k.base,
      this.cfg.maxSessionBytes,
      this.cfg.maxMessages,
      leadingInstructions(messages),
      ...encoded.map((e) => e.json),
    ];
    const reply = await this.run('session append', (s) => s.llmSessionAppend(k.idx, k.meta, k.msgs, ...args));
    switch (reply[0]) {
      case 'ok': {
        const [, createdAt, bytes, messageCount, dropped] = reply;
        return { id, owner, createdAt, updatedAt: now, bytes, messageCount, dropped };
      }
      case 'too_large':
        throw new SessionTooLarge(id, { bytes: reply[1], messages: reply[2] }, this.cfg);
      case 'not_found':
        throw new SessionNotFound(id);
    }
  }

  async delete(id: string, owner: string): Promise<boolean> {
    const k = this.keys(id, owner);
    return (await this.run('session delete', (s) => s.llmSessionDelete(k.idx, k.meta, k.msgs, owner, id))) === 1;
  }

  /** The connection belongs to the state backend, which closes it. */
  async close(): Promise<void> {}

  /** Keys of one session; the id is validated first (it becomes part of a key). */
  private keys(id: string, owner: string): { base: string; idx: string; meta: string; msgs: string } {
    if (!isValidSessionId(id)) throw new InvalidSessionId();
    const base = `${this.opts.keyPrefix}{${ownerTag(owner)}}`;
    return { base, idx: `${base}i`, meta: `${base}s:${id}`, msgs: `${base}m:${id}` };
  }

  private run<T>(what: string, fn: (scripts: SessionScripts) => Promise<T>): Promise<T> {
    return this.opts.connection.run(what, (client: Redis) => fn(client as unknown as SessionScripts));
  }
}

/** Sessions in Redis (with `state.backend: redis`). */
export function createRedisSessionStore(cfg: RedisSessionsConfig, opts: RedisSessionStoreOptions): SessionStore {
  return new RedisSessionStore(cfg, opts);
}
