/**
 * One contract for both session stores: `describeSessionStoreContract(harness)` runs the same
 * tests against the memory store (fake clock) and the real Redis.
 */
import { afterEach, describe, expect, it } from 'vitest';

import type { ChatMessage } from '../../../src/core/chat-request.js';
import type { SessionsConfig } from '../../../src/sessions/session-schema.js';
import { InvalidSessionId, SessionExists, SessionTooLarge, type SessionStore } from '../../../src/sessions/session-store.js';
import { assistant, call, config, encodeMessages, result, system, texts, user } from './session-fixtures.js';

export interface SessionHarness {
  name: string;
  /** A store on a fresh, empty namespace. */
  open(cfg: SessionsConfig): Promise<SessionStore>;
  /** Lets time pass: a fake clock (memory) or a real wait (Redis, whose clock runs expiry). */
  advance(ms: number): Promise<void>;
  /** An idle TTL that `advance` can test: small for real waits. */
  ttlMs: number;
  closeAll(): Promise<void>;
}

const sizeOf = (messages: ChatMessage[]) => encodeMessages(messages).reduce((n, e) => n + e.bytes, 0);

export function describeSessionStoreContract(h: SessionHarness): void {
  afterEach(() => h.closeAll());

  describe(`session store contract: ${h.name}`, () => {
    it('creates an empty session with a server-made id, and reads it back', async () => {
      const store = await h.open(config());
      const s = await store.create('key_a');
      expect(s.id).toMatch(/^sess_[A-Za-z0-9_-]{24}$/);
      expect(s).toMatchObject({ owner: 'key_a', messages: [], bytes: 0 });
      expect(Number.isNaN(Date.parse(s.createdAt))).toBe(false);
      const got = await store.get(s.id, 'key_a');
      expect(got).toMatchObject({ id: s.id, owner: 'key_a', messages: [], bytes: 0, createdAt: s.createdAt });
      expect((await store.create('key_a')).id).not.toBe(s.id);
    });

    it('takes an app-chosen id once per owner', async () => {
      const store = await h.open(config());
      await store.create('key_a', { id: 'conv:42' });
      await expect(store.create('key_a', { id: 'conv:42' })).rejects.toBeInstanceOf(SessionExists);
      // Another owner's namespace is its own: no collision, no squatting.
      await expect(store.create('key_b', { id: 'conv:42' })).resolves.toMatchObject({ id: 'conv:42', owner: 'key_b' });
    });

    it('refuses invalid ids in every call before touching the store', async () => {
      const store = await h.open(config());
      for (const id of ['', 'a b', 'x'.repeat(129), '../etc', 'é', '__proto__{}', 'a\nb']) {
        await expect(store.create('key_a', { id })).rejects.toBeInstanceOf(InvalidSessionId);
        await expect(store.get(id, 'key_a')).rejects.toBeInstanceOf(InvalidSessionId);
        await expect(store.append(id, 'key_a', [user('hi')])).rejects.toBeInstanceOf(InvalidSessionId);
        await expect(store.delete(id, 'key_a')).rejects.toBeInstanceOf(InvalidSessionId);
      }
      // Names that would be special on a plain object are ordinary ids.
      await expect(store.append('__proto__', 'key_a', [user('hi')])).resolves.toMatchObject({ messageCount: 1 });
      await expect(store.append('constructor', 'key_a', [user('hi')])).resolves.toMatchObject({ messageCount: 1 });
      expect(texts((await store.get('__proto__', 'key_a'))!.messages)).toEqual(['hi']);
    });

    it('appends, creating the session when missing, and keeps every message field', async () => {
      const store = await h.open(config());
      const turn: ChatMessage[] = [
        system('be brief'),
        { role: 'user', content: [{ type: 'text', text: 'look at this' }, { type: 'image_url', image_url: { url: 'https://x.test/a.png', detail: 'low' } }], name: 'ann' },
        { role: 'assistant', content: null, toolCalls: [{ id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{"q":"ü €"}' } }] },
        result('c1', '{"found":true}'),
        { role: 'assistant', content: 'done', refusal: null },
      ];
      const r = await store.append('chat-1', 'key_a', turn);
      expect(r).toMatchObject({ id: 'chat-1', owner: 'key_a', messageCount: 5, dropped: 0, bytes: sizeOf(turn) });
      const got = await store.get('chat-1', 'key_a');
      expect(got!.messages).toEqual([turn[0], turn[1], turn[2], turn[3], { role: 'assistant', content: 'done' }]);
      expect(got!.bytes).toBe(sizeOf(turn));
      expect(got!.createdAt).toBe(r.createdAt);
      const r2 = await store.append('chat-1', 'key_a', [user('more'), assistant('ok')]);
      expect(r2).toMatchObject({ messageCount: 7, createdAt: r.createdAt });
      expect(texts((await store.get('chat-1', 'key_a'))!.messages).slice(-2)).toEqual(['more', 'ok']);
    });

    it('keeps owners apart: another key sees nothing and cannot delete', async () => {
      const store = await h.open(config());
      const s = await store.create('key_a');
      await store.append(s.id, 'key_a', [user('secret'), assistant('noted')]);
      expect(await store.get(s.id, 'key_b')).toBeUndefined();
      expect(await store.delete(s.id, 'key_b')).toBe(false);
      // key_b appending to the same id gets a session of its own, never key_a's.
      await store.append(s.id, 'key_b', [user('mine')]);
      expect(texts((await store.get(s.id, 'key_b'))!.messages)).toEqual(['mine']);
      expect(texts((await store.get(s.id, 'key_a'))!.messages)).toEqual(['secret', 'noted']);
      // Owners that differ only in ways a naive key join would blur.
      await store.append('x', 'jwt:a', [user('1')]);
      await store.append('x', 'jwt:a:', [user('2')]);
      expect(texts((await store.get('x', 'jwt:a'))!.messages)).toEqual(['1']);
    });

    it('deletes at once', async () => {
      const store = await h.open(config());
      const s = await store.create('key_a');
      await store.append(s.id, 'key_a', [user('hi')]);
      expect(await store.delete(s.id, 'key_a')).toBe(true);
      expect(await store.get(s.id, 'key_a')).toBeUndefined();
      expect(await store.delete(s.id, 'key_a')).toBe(false);
      // The id is free again, and starts empty.
      await expect(store.create('key_a', { id: s.id })).resolves.toMatchObject({ messages: [] });
      expect((await store.get(s.id, 'key_a'))!.messages).toEqual([]);
    });

    it('replaces the system prompt when an append starts with one, and keeps it otherwise', async () => {
      const store = await h.open(config());
      await store.append('s', 'key_a', [system('v1'), user('u1'), assistant('a1')]);
      await store.append('s', 'key_a', [system('v2'), { role: 'developer', content: 'dev' }, user('u2'), assistant('a2')]);
      expect(texts((await store.get('s', 'key_a'))!.messages)).toEqual(['v2', 'dev', 'u1', 'a1', 'u2', 'a2']);
      await store.append('s', 'key_a', [user('u3'), system('note'), assistant('a3')]);
      const got = await store.get('s', 'key_a');
      expect(texts(got!.messages)).toEqual(['v2', 'dev', 'u1', 'a1', 'u2', 'a2', 'u3', 'note', 'a3']);
      expect(got!.bytes).toBe(sizeOf(got!.messages));
      // A session that had none gets one in front.
      await store.append('t', 'key_a', [user('u1'), assistant('a1')]);
      const r = await store.append('t', 'key_a', [system('late'), user('u2')]);
      expect(texts((await store.get('t', 'key_a'))!.messages)).toEqual(['late', 'u1', 'a1', 'u2']);
      expect(r.messageCount).toBe(4);
    });

    it('drops the oldest turns past maxMessages, keeping the system prompt', async () => {
      const store = await h.open(config({ maxMessages: 5 }));
      await store.append('s', 'key_a', [system('sys'), user('u1'), assistant('a1')]);
      await store.append('s', 'key_a', [user('u2'), assistant('a2')]);
      const r = await store.append('s', 'key_a', [user('u3'), assistant('a3')]);
      expect(r).toMatchObject({ dropped: 2, messageCount: 5 });
      const got = await store.get('s', 'key_a');
      expect(texts(got!.messages)).toEqual(['sys', 'u2', 'a2', 'u3', 'a3']);
      expect(got!.bytes).toBe(sizeOf(got!.messages));
      expect(r.bytes).toBe(got!.bytes);
    });

    it('drops by bytes too, as little as possible, a whole turn at a time', async () => {
      const big = 'x'.repeat(200);
      const turnSize = sizeOf([user(`${big}1`), assistant('a')]);
      const store = await h.open(config({ maxSessionBytes: sizeOf([system('s')]) + 2 * turnSize }));
      await store.append('s', 'key_a', [system('s'), user(`${big}1`), assistant('a')]);
      await store.append('s', 'key_a', [user(`${big}2`), assistant('a')]);
      const r = await store.append('s', 'key_a', [user(`${big}3`), assistant('a')]);
      expect(r.dropped).toBe(2);
      expect(texts((await store.get('s', 'key_a'))!.messages).map((t) => t.slice(-1))).toEqual(['s', '2', 'a', '3', 'a']);
    });

    it('never separates a tool call from its result', async () => {
      const store = await h.open(config({ maxMessages: 6 }));
      // Turn 1 calls a tool; its result arrives in turn 2 (after the user spoke again).
      await store.append('s', 'key_a', [user('u1'), call('c1')]);
      await store.append('s', 'key_a', [user('u2'), result('c1', 'r1'), assistant('a2')]);
      await store.append('s', 'key_a', [user('u3'), assistant('a3')]);
      // 7 messages: dropping turn 1 alone would orphan tool:c1, so turns 1 and 2 go together.
      expect(texts((await store.get('s', 'key_a'))!.messages)).toEqual(['u3', 'a3']);
    });

    it('keeps an earlier tool call the new turn answers, and refuses when that cannot fit', async () => {
      const store = await h.open(config({ maxMessages: 4 }));
      await store.append('s', 'key_a', [user('u1'), assistant('a1')]);
      await store.append('s', 'key_a', [user('u2'), call('c2')]);
      // The app sends the tool result: u2 + call:c2 must stay with it; u1 + a1 go.
      const r = await store.append('s', 'key_a', [result('c2', 'r2'), assistant('a2')]);
      expect(r.dropped).toBe(2);
      expect(texts((await store.get('s', 'key_a'))!.messages)).toEqual(['u2', 'call:c2', 'tool:c2', 'a2']);
      // Another result for c2 plus 3 more messages: nothing may go, so nothing is written.
      const before = await store.get('s', 'key_a');
      await expect(store.append('s', 'key_a', [result('c2', 'again'), assistant('x')])).rejects.toBeInstanceOf(SessionTooLarge);
      expect((await store.get('s', 'key_a'))!.messages).toEqual(before!.messages);
    });

    it('refuses a turn that alone is over a cap, writing nothing', async () => {
      const store = await h.open(config({ maxSessionBytes: 500, maxMessages: 3 }));
      await store.append('s', 'key_a', [user('u1'), assistant('a1')]);
      const err = await store.append('s', 'key_a', [user('x'.repeat(600))]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SessionTooLarge);
      expect((err as SessionTooLarge).limits).toEqual({ maxSessionBytes: 500, maxMessages: 3 });
      await expect(store.append('s', 'key_a', [user('1'), user('2'), user('3'), user('4')])).rejects.toBeInstanceOf(SessionTooLarge);
      expect(texts((await store.get('s', 'key_a'))!.messages)).toEqual(['u1', 'a1']);
      // The stored system prompt counts: with it the new turn cannot fit either.
      await store.append('t', 'key_a', [system('s'.repeat(300)), user('u1')]);
      await expect(store.append('t', 'key_a', [user('y'.repeat(250))])).rejects.toBeInstanceOf(SessionTooLarge);
      // A new system prompt replaces it, so the same turn then fits.
      await expect(store.append('t', 'key_a', [system('short'), user('y'.repeat(250))])).resolves.toMatchObject({ dropped: 0, messageCount: 3 });
    });

    it('loses no turn to 20 concurrent appends', async () => {
      const store = await h.open(config());
      await store.create('key_a', { id: 'busy' });
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.append('busy', 'key_a', [user(`u${i}`), assistant(`a${i}`)])));
      expect(results.map((r) => r.messageCount).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => 2 * (i + 1)));
      const got = texts((await store.get('busy', 'key_a'))!.messages);
      expect(got).toHaveLength(40);
      // Each turn's two messages stay adjacent, and every turn is there once.
      for (let k = 0; k < 40; k += 2) expect(got[k + 1]).toBe(got[k]!.replace('u', 'a'));
      expect(new Set(got.filter((t) => t.startsWith('u')))).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `u${i}`)));
    });

    it('loses no turn to 20 concurrent appends creating the session', async () => {
      const store = await h.open(config());
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.append('fresh', 'key_a', [user(`u${i}`)])));
      expect((await store.get('fresh', 'key_a'))!.messages).toHaveLength(20);
    });

    it('expires a session left idle for idleTtlMs; every use restarts the clock', async () => {
      const ttl = h.ttlMs;
      const store = await h.open(config({ idleTtlMs: ttl }));
      await store.append('idle', 'key_a', [user('u1')]);
      await store.append('used', 'key_a', [user('u1')]);
      await h.advance(ttl * 0.6);
      await store.get('used', 'key_a');
      await h.advance(ttl * 0.6);
      expect(await store.get('idle', 'key_a')).toBeUndefined();
      expect(await store.get('used', 'key_a')).toBeDefined();
      await store.append('used', 'key_a', [user('u2')]);
      await h.advance(ttl * 0.6);
      expect(texts((await store.get('used', 'key_a'))!.messages)).toEqual(['u1', 'u2']);
      await h.advance(ttl * 1.5);
      expect(await store.get('used', 'key_a')).toBeUndefined();
      // An expired id starts afresh.
      await store.append('used', 'key_a', [user('new')]);
      expect(texts((await store.get('used', 'key_a'))!.messages)).toEqual(['new']);
    });

    it('keeps at most maxSessionsPerOwner per caller, dropping its least recently used', async () => {
      const store = await h.open(config({ maxSessionsPerOwner: 3 }));
      for (const id of ['s1', 's2', 's3']) await store.append(id, 'key_a', [user(id)]);
      await store.append('other', 'key_b', [user('b')]);
      await store.get('s1', 'key_a'); // s2 is now the least recently used
      await store.create('key_a', { id: 's4' });
      expect(await store.get('s2', 'key_a')).toBeUndefined();
      for (const id of ['s1', 's3', 's4']) expect(await store.get(id, 'key_a')).toBeDefined();
      // Those reads were uses too: s1 is now the least recently used.
      await store.append('s5', 'key_a', [user('s5')]);
      expect(await store.get('s1', 'key_a')).toBeUndefined();
      for (const id of ['s3', 's4', 's5']) expect(await store.get(id, 'key_a')).toBeDefined();
      expect(await store.get('other', 'key_b')).toBeDefined();
    });
  });
}
