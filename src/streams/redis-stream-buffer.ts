/**
 * The Redis stream buffer: each stream a Redis stream (`XADD` with explicit ids `N-0`, so event
 * ids are the same "1", "2", … as in memory) and a meta hash (owner, sequence, bytes, ended,
 * sealed), both under a hash tag of the stream id (one slot, for scripts). Appends, the byte cap
 * and the end are Lua scripts: the sequence, the cap check and the XADD happen atomically.
 *
 * Exactly once, in order: a reader keeps the id of the last event it yielded, `last`, and every
 * read it makes asks for the events strictly after `last` (`XRANGE (last +`, then
 * `XREAD BLOCK … last`, never `$`), each answer being the first events after `last` in id order.
 * Ids only grow (an explicit XADD id must exceed the stream's top), so nothing can appear behind
 * `last`: the events yielded are exactly those after `afterId`, each once, in order. Events
 * appended between the backlog's XRANGE and the first XREAD are returned by that XREAD at once.
 * The end is seen through the meta hash; `end()` runs after the producer's last append resolved,
 * so one more XRANGE after seeing `ended` collects whatever came before it.
 *
 * Expiry: while in progress both keys expire `ttlMs + detachedTimeoutMs` after the latest append
 * (a producer whose instance died leaves nothing behind); `end()` sets them to `ttlMs`.
 *
 * Readers: the backlog is read on the shared connection; the live tail needs a connection of its
 * own for `XREAD BLOCK` (opened only when the reader catches up with a stream in progress, at
 * most `maxStreams` per instance). A reader holds a short lease key while it iterates, which
 * `hasReader` checks, so a producer on another instance knows its stream is being read.
 */
import type { Redis } from 'ioredis';

import type { RedisConnection } from '../state/redis/redis-connection.js';
import { redisOptions } from '../state/redis/redis-options.js';
import { StateUnavailableError } from '../state/types.js';
import type { StreamsConfig } from './streams-schema.js';
import type { StreamBuffer, StreamEvent } from './stream-buffer.js';
import { BUFFER_FULL_EVENT, StreamBufferFull, StreamNotWritable, StreamsFull } from './stream-errors.js';
import { DONE, isStreamId, newStreamId, startAfter } from './stream-ids.js';

export interface RedisStreamBufferOptions {
  connection: RedisConnection;
  /** Prefix of this buffer's keys, e.g. `llm-router:strm:`. */
  keyPrefix: string;
  /** Longest XREAD BLOCK, after which a reader checks whether the stream ended or vanished (default 5 s). */
  blockMs?: number;
}

/** Events per XRANGE / XREAD answer. */
const BATCH = 256;

// KEYS: meta. ARGV: owner, live ttl. 1: opened, 0: the id exists.
const OPEN_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'seq', 0, 'bytes', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

// KEYS: stream, meta. ARGV: data, maxStreamBytes, live ttl, the buffer-full event.
// The new sequence number; -1: missing or ended; -2: full (sealed now or before).
const APPEND_LUA = `
local m = redis.call('HMGET', KEYS[2], 'seq', 'bytes', 'ended', 'sealed')
if not m[1] or m[3] then return -1 end
if m[4] then return -2 end
local seq = tonumber(m[1]) + 1
local bytes = tonumber(m[2]) + string.len(ARGV[1])
if bytes > tonumber(ARGV[2]) then
  redis.call('XADD', KEYS[1], seq .. '-0', 'd', ARGV[4])
  redis.call('XADD', KEYS[1], (seq + 1) .. '-0', 'd', '${DONE}')
  redis.call('HSET', KEYS[2], 'seq', seq + 1, 'sealed', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return -2
end
redis.call('XADD', KEYS[1], seq .. '-0', 'd', ARGV[1])
redis.call('HSET', KEYS[2], 'seq', seq, 'bytes', bytes)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return seq`;

// KEYS: stream, meta. ARGV: ttl. Sets the ttl once, at the first end.
const END_LUA = `
local m = redis.call('HMGET', KEYS[2], 'seq', 'ended')
if not m[1] or m[2] then return 0 end
redis.call('HSET', KEYS[2], 'ended', 1)
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

interface StreamScripts {
  llmStrmOpen(meta: string, owner: string, ttlMs: string): Promise<number>;
  llmStrmAppend(stream: string, meta: string, data: string, maxBytes: string, ttlMs: string, fullEvent: string): Promise<number>;
  llmStrmEnd(stream: string, meta: string, ttlMs: string): Promise<number>;
}

type Entries = Array<[id: string, fields: string[]]>;

export function createRedisStreamBuffer(cfg: StreamsConfig, opts: RedisStreamBufferOptions): StreamBuffer {
  const conn = opts.connection;
  const blockMs = opts.blockMs ?? 5_000;
  // Refreshed every blockMs at most; long enough that a busy event loop does not let it lapse.
  const leaseMs = Math.max(blockMs * 3, 10_000);
  const liveTtl = String(cfg.ttlMs + cfg.detachedTimeoutMs);
  const keys = (id: string) => {
    const base = `${opts.keyPrefix}{${id}}`;
    return { stream: base, meta: `${base}:meta`, lease: `${base}:readers` };
  };
  conn.client.defineCommand('llmStrmOpen', { numberOfKeys: 1, lua: OPEN_LUA });
  conn.client.defineCommand('llmStrmAppend', { numberOfKeys: 2, lua: APPEND_LUA });
  conn.client.defineCommand('llmStrmEnd', { numberOfKeys: 2, lua: END_LUA });
  const scripts = (c: Redis) => c as unknown as StreamScripts;
  const blockers = new Set<Redis>();
  let readers = 0;
  let closed = false;

  /** A connection of its own for XREAD BLOCK; its command timeout covers the block. */
  const openBlocking = async (): Promise<Redis> => {
    if (blockers.size >= cfg.maxStreams) throw new StreamsFull('too many resume readers waiting on Redis');
    // ioredis is loaded already (the state connection uses it); imported here so this module costs nothing on the memory backend.
    const { Redis } = await import('ioredis');
    const client = new Redis(conn.config.url, { ...redisOptions(conn.config), commandTimeout: blockMs + conn.config.commandTimeoutMs, retryStrategy: () => null });
    client.on('error', () => undefined); // reported by the read that fails
    blockers.add(client);
    try {
      await client.connect();
    } catch (err) {
      blockers.delete(client);
      client.disconnect();
      throw new StateUnavailableError(`Redis stream read: cannot connect (${(err as Error).message})`, { cause: err });
    }
    return client;
  };

  async function* iterate(id: string, after: number, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const k = keys(id);
    let last = `${after}-0`;
    let blocking: Redis | undefined;
    let leasedAt = -Infinity;
    // The stream is over for this reader: its lease no longer matters to anyone.
    let over = false;
    const onAbort = () => blocking?.disconnect();
    signal.addEventListener('abort', onAbort, { once: true });
    readers++;
    const lease = async () => {
      if (performance.now() - leasedAt < blockMs) return;
      leasedAt = performance.now();
      await conn.run('stream reader lease', (c) => c.set(k.lease, '1', 'PX', leaseMs));
    };
    try {
      let finalPass = false;
      for (;;) {
        // The backlog after `last`, on the shared connection.
        for (;;) {
          if (signal.aborted) return;
          await lease();
          const batch = await conn.run('stream range', (c) => c.xrange(k.stream, `(${last}`, '+', 'COUNT', BATCH));
          for (const [eid, fields] of batch) {
            last = eid;
            const ev = toEvent(eid, fields);
            const done = ev.data === DONE;
            over ||= done;
            yield ev;
            if (done || signal.aborted) return;
          }
          if (batch.length < BATCH) break;
        }
        if (finalPass) return;
        const [seq, ended] = await conn.run('stream state', (c) => c.hmget(k.meta, 'seq', 'ended'));
        if (seq === null) {
          over = true; // expired, or its producer's instance died long ago
          return;
        }
        if (ended !== null) {
          finalPass = over = true;
          continue;
        }
        if (Number(seq) > seqOf(last)) continue;
        // Caught up with a stream in progress: wait for what comes after `last`.
        blocking ??= await openBlocking();
        if (signal.aborted) return;
        for (;;) {
          await lease();
          let reply: Array<[string, Entries]> | null;
          try {
            reply = (await blocking.xread('COUNT', BATCH, 'BLOCK', blockMs, 'STREAMS', k.stream, last)) as Array<[string, Entries]> | null;
          } catch (err) {
            if (signal.aborted || closed) return;
            throw new StateUnavailableError(`Redis stream read failed: ${(err as Error).message}`, { cause: err });
          }
          if (!reply) break; // nothing within blockMs: see whether it ended or vanished
          for (const [eid, fields] of reply[0]?.[1] ?? []) {
            last = eid;
            const ev = toEvent(eid, fields);
            const done = ev.data === DONE;
            over ||= done;
            yield ev;
            if (done || signal.aborted) return;
          }
        }
      }
    } finally {
      readers--;
      signal.removeEventListener('abort', onAbort);
      if (blocking) {
        blockers.delete(blocking);
        blocking.disconnect();
      }
      // Other readers' leases go too, but no producer asks about a stream that is over.
      if (over && leasedAt > -Infinity) await conn.run('stream reader lease', (c) => c.del(k.lease)).catch(() => undefined);
    }
  }

  return {
    async open(owner, o) {
      const id = o?.id ?? newStreamId();
      if (!isStreamId(id)) throw new RangeError(`malformed stream id: ${JSON.stringify(id)}`);
      const ok = await conn.run('stream open', (c) => scripts(c).llmStrmOpen(keys(id).meta, owner, liveTtl));
      if (ok !== 1) throw new Error(`stream ${id} exists`);
      return { id };
    },

    async append(streamId, data) {
      const k = keys(streamId);
      const seq = await conn.run('stream append', (c) => scripts(c).llmStrmAppend(k.stream, k.meta, data, String(cfg.maxStreamBytes), liveTtl, BUFFER_FULL_EVENT));
      if (seq === -1) throw new StreamNotWritable(streamId, 'missing');
      if (seq === -2) throw new StreamBufferFull(streamId);
      return String(seq);
    },

    async end(streamId) {
      const k = keys(streamId);
      await conn.run('stream end', (c) => scripts(c).llmStrmEnd(k.stream, k.meta, String(cfg.ttlMs)));
    },

    async read(streamId, owner, afterId, signal) {
      const after = startAfter(afterId);
      if (closed) throw new StateUnavailableError('Redis stream read: buffer closed');
      if (!isStreamId(streamId)) return undefined;
      if (readers >= cfg.maxStreams) throw new StreamsFull('too many resume readers');
      const found = await conn.run('stream owner', (c) => c.hget(keys(streamId).meta, 'owner'));
      if (found !== owner) return undefined;
      return iterate(streamId, after, signal);
    },

    async hasReader(streamId) {
      return (await conn.run('stream reader', (c) => c.exists(keys(streamId).lease))) === 1;
    },

    /** The connection is its owner's to close; readers waiting on their own connections stop now. */
    async close() {
      closed = true;
      for (const b of blockers) b.disconnect();
      blockers.clear();
    },
  };
}

function seqOf(redisId: string): number {
  return Number(redisId.slice(0, redisId.indexOf('-')));
}

function toEvent(redisId: string, fields: string[]): StreamEvent {
  // Fields are [name, value]: the only one written is `d`.
  return { id: String(seqOf(redisId)), data: fields[1] ?? '' };
}
