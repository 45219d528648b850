/**
 * The Redis session store against the shared test Redis (127.0.0.1:6379), everything under a
 * prefix of this run that is deleted at the end; and against no Redis at all.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ChatMessage } from '../../../src/core/chat-request.js';
import { ownerTag } from '../../../src/sessions/owner-tag.js';
import { createMemorySessionStore, createRedisSessionStore, SessionTooLarge, type AppendResult, type SessionStore } from '../../../src/sessions/session-store.js';
import { RedisConnection } from '../../../src/state/redis/redis-connection.js';
import { redisSchema } from '../../../src/state/state-schema.js';
import { StateUnavailableError } from '../../../src/state/types.js';
import { deletePrefix, TEST_REDIS_URL } from '../state/redis-test-support.js';
import { describeSessionStoreContract } from './session-contract.js';
import { assistant, call, config, result, system, user } from './session-fixtures.js';

const prefix = `llm-router-test:${process.pid}-${Date.now()}:sess:`;
let conn: RedisConnection;
let raw: Redis;
let n = 0;

beforeAll(async () => {
  conn = new RedisConnection(redisSchema.parse({ url: TEST_REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 2_000 }));
  expect(await conn.waitReady(5_000)).toBe(true);
  raw = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  await deletePrefix(TEST_REDIS_URL, prefix);
  expect(await raw.keys(`${prefix}*`)).toEqual([]);
  raw.disconnect();
  await conn?.close();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describeSessionStoreContract({
  name: 'redis',
  ttlMs: 800,
  async open(cfg) {
    return createRedisSessionStore(cfg, { connection: conn, keyPrefix: `${prefix}${++n}:` });
  },
  advance: sleep,
  async closeAll() {},
});

describe('redis session store', () => {
  it('keeps each session in its owner\'s keys under the prefix, all expiring after idleTtlMs', async () => {
    const keyPrefix = `${prefix}${++n}:`;
    const store = createRedisSessionStore(config({ idleTtlMs: 60_000 }), { connection: conn, keyPrefix });
    await store.append('chat-1', 'jwt:alice', [system('s'), user('u1'), assistant('a1')]);
    const base = `${keyPrefix}{${ownerTag('jwt:alice')}}`;
    expect((await raw.keys(`${keyPrefix}*`)).sort()).toEqual([`${base}i`, `${base}m:chat-1`, `${base}s:chat-1`].sort());
    for (const key of [`${base}i`, `${base}m:chat-1`, `${base}s:chat-1`]) {
      const ttl = await raw.pttl(key);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    expect(await raw.hgetall(`${base}s:chat-1`)).toMatchObject({ owner: 'jwt:alice', lead: '1' });
    // What an operator reads: OpenAI chat message JSON, role first.
    expect(await raw.lrange(`${base}m:chat-1`, 0, -1)).toEqual(['{"role":"system","content":"s"}', '{"role":"user","content":"u1"}', '{"role":"assistant","content":"a1"}']);
    // A read refreshes the expiry.
    await raw.pexpire(`${base}s:chat-1`, 5_000);
    await store.get('chat-1', 'jwt:alice');
    expect(await raw.pttl(`${base}s:chat-1`)).toBeGreaterThan(50_000);
  });

  it('answers every call with StateUnavailableError while Redis is unreachable', async () => {
    const down = new RedisConnection(redisSchema.parse({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 200, connectTimeoutMs: 200 }));
    try {
      const store = createRedisSessionStore(config(), { connection: down, keyPrefix: `${prefix}down:` });
      const started = Date.now();
      await expect(store.create('key_a')).rejects.toBeInstanceOf(StateUnavailableError);
      await expect(store.get('s', 'key_a')).rejects.toBeInstanceOf(StateUnavailableError);
      await expect(store.append('s', 'key_a', [user('hi')])).rejects.toBeInstanceOf(StateUnavailableError);
      await expect(store.delete('s', 'key_a')).rejects.toBeInstanceOf(StateUnavailableError);
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await down.close();
    }
  });

  it('trims exactly as the memory store does (random conversations)', async () => {
    const message: fc.Arbitrary<ChatMessage> = fc.oneof(
      fc.constantFrom('a', 'bb', 'a longer user message').map(user),
      fc.constantFrom('x', 'an answer').map(assistant),
      fc.constantFrom('sys', 'a longer system prompt').map(system),
      fc.constantFrom('c1', 'c2', 'c3').map((id) => call(id)),
      fc.constantFrom('c1', 'c2', 'c3').map((id) => result(id, 'r')),
    );
    const turns = fc.array(fc.array(message, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 12 });
    const covered = { dropped: 0, tooLarge: 0, replaced: 0 };
    const caps = fc.record({ maxMessages: fc.integer({ min: 2, max: 8 }), maxSessionBytes: fc.integer({ min: 60, max: 400 }) });
    await fc.assert(
      fc.asyncProperty(turns, caps, async (appends, limits) => {
        const cfg = config(limits);
        const stores: SessionStore[] = [createMemorySessionStore(cfg), createRedisSessionStore(cfg, { connection: conn, keyPrefix: `${prefix}${++n}:` })];
        const outcome = async (store: SessionStore) => {
          const seen: unknown[] = [];
          for (const batch of appends) {
            const r: AppendResult | Error = await store.append('s', 'key_a', batch).catch((e: unknown) => e as Error);
            if (r instanceof SessionTooLarge) covered.tooLarge++;
            else if (!(r instanceof Error) && r.dropped > 0) covered.dropped++;
            if (batch[0]?.role === 'system') covered.replaced++;
            seen.push(r instanceof SessionTooLarge ? { tooLarge: r.needed } : r instanceof Error ? r : { dropped: r.dropped, bytes: r.bytes, count: r.messageCount });
          }
          const final = await store.get('s', 'key_a');
          return { seen, messages: final?.messages, bytes: final?.bytes };
        };
        const [memory, redis] = [await outcome(stores[0]!), await outcome(stores[1]!)];
        expect(redis).toEqual(memory);
      }),
      { numRuns: 150 },
    );
    // The runs went through every path: trims, refusals, system prompt replacements.
    expect(Math.min(covered.dropped, covered.tooLarge, covered.replaced)).toBeGreaterThan(10);
  });
});
