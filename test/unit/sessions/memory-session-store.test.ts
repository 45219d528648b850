import { describe, expect, it } from 'vitest';

import { createMemorySessionStore, type SessionStore } from '../../../src/sessions/session-store.js';
import { describeSessionStoreContract } from './session-contract.js';
import { assistant, config, texts, user } from './session-fixtures.js';

let clock = 1_700_000_000_000;
const now = () => clock;
const opened: SessionStore[] = [];

describeSessionStoreContract({
  name: 'memory',
  ttlMs: 1_000,
  async open(cfg) {
    const store = createMemorySessionStore(cfg, { now });
    opened.push(store);
    return store;
  },
  async advance(ms) {
    clock += ms;
  },
  async closeAll() {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  },
});

describe('memory session store bounds', () => {
  it('keeps at most maxSessions, dropping the least recently used', async () => {
    const store = createMemorySessionStore(config({ maxSessions: 3 }), { now });
    for (const id of ['a', 'b', 'c']) await store.append(id, `key_${id}`, [user(id)]);
    await store.get('a', 'key_a');
    await store.append('d', 'key_d', [user('d')]);
    expect(await store.get('b', 'key_b')).toBeUndefined();
    for (const id of ['a', 'c', 'd']) expect(await store.get(id, `key_${id}`)).toBeDefined();
  });

  it('keeps at most maxTotalBytes over all sessions, never dropping the one just written', async () => {
    const store = createMemorySessionStore(config({ maxTotalBytes: 1_000 }), { now });
    await store.append('a', 'key_a', [user('x'.repeat(400))]);
    await store.append('b', 'key_b', [user('x'.repeat(400))]);
    await store.append('c', 'key_c', [user('x'.repeat(400))]);
    expect(await store.get('a', 'key_a')).toBeUndefined();
    expect(await store.get('b', 'key_b')).toBeDefined();
    // Growing a session past the bound pushes out the others, not itself.
    await store.append('c', 'key_c', [user('y'.repeat(400))]);
    expect(await store.get('b', 'key_b')).toBeUndefined();
    expect(texts((await store.get('c', 'key_c'))!.messages)).toHaveLength(2);
  });

  it('sweeps expired sessions without being asked for them', async () => {
    const store = createMemorySessionStore(config({ idleTtlMs: 1_000, maxSessions: 2 }), { now });
    await store.append('old', 'key_a', [user('1')]);
    clock += 2_000;
    await store.append('new1', 'key_a', [user('2')]);
    await store.append('new2', 'key_a', [user('3')]);
    // 'old' was swept, not counted: both new ones stay.
    expect(await store.get('new1', 'key_a')).toBeDefined();
    expect(await store.get('new2', 'key_a')).toBeDefined();
  });

  it('hands out copies: changing a returned record changes nothing stored', async () => {
    const store = createMemorySessionStore(config(), { now });
    const turn = [user('u1'), assistant('a1')];
    await store.append('s', 'key_a', turn);
    (turn[0] as { content: string }).content = 'changed';
    const got = await store.get('s', 'key_a');
    got!.messages.push(user('x'));
    expect(texts((await store.get('s', 'key_a'))!.messages)).toEqual(['u1', 'a1']);
  });
});
