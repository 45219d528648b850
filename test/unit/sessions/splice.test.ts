import { describe, expect, it } from 'vitest';

import { answerMessage, spliceHistory, toStore } from '../../../src/sessions/splice.js';
import { createMemorySessionStore } from '../../../src/sessions/session-store.js';
import { assistant, call, config, result, system, texts, user } from './session-fixtures.js';

describe('spliceHistory', () => {
  it('puts the stored history before the new messages', () => {
    const r = spliceHistory([system('s'), user('u1'), assistant('a1')], [user('u2')]);
    expect(texts(r.messages)).toEqual(['s', 'u1', 'a1', 'u2']);
    expect(r).toMatchObject({ turns: 1, history: 3 });
  });

  it('lets a new system prompt replace the stored one, leaving later instructions in place', () => {
    const stored = [system('old'), { role: 'developer' as const, content: 'old dev' }, user('u1'), system('note'), assistant('a1')];
    const r = spliceHistory(stored, [system('new'), user('u2')]);
    expect(texts(r.messages)).toEqual(['new', 'u1', 'note', 'a1', 'u2']);
    expect(r).toMatchObject({ turns: 1, history: 3 });
  });

  it('puts a new system prompt in front of a history that had none', () => {
    expect(texts(spliceHistory([user('u1'), assistant('a1')], [system('s'), user('u2')]).messages)).toEqual(['s', 'u1', 'a1', 'u2']);
  });

  it('with no history is the incoming messages, and never changes its inputs', () => {
    const incoming = [system('s'), user('u')];
    const r = spliceHistory([], incoming);
    expect(r).toEqual({ messages: incoming, turns: 0, history: 0 });
    expect(r.messages).not.toBe(incoming);
  });

  it('keeps a pending tool call and the new tool result together', () => {
    const r = spliceHistory([user('u1'), call('c1')], [result('c1', 'r')]);
    expect(texts(r.messages)).toEqual(['u1', 'call:c1', 'tool:c1']);
  });
});

describe('toStore', () => {
  it('is the new turn and the answer, tool calls included', () => {
    const answer = answerMessage({ content: null, toolCalls: [{ id: 'c9', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }], refusal: null });
    expect(answer).toEqual({ role: 'assistant', content: null, toolCalls: [{ id: 'c9', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] });
    expect(texts(toStore([user('u')], answer))).toEqual(['u', 'call:c9']);
  });

  it('stored after a turn, the session is what the model saw plus its answer', async () => {
    const store = createMemorySessionStore(config());
    const turns = [
      [system('s1'), user('u1')],
      [user('u2')],
      [system('s2'), user('u3')], // an app that changes its system prompt
      [system('s2'), user('u4')], // and resends it every turn: stored once
      [result('none', 'orphan'), user('u5')],
    ];
    for (const [i, incoming] of turns.entries()) {
      const stored = (await store.get('s', 'k'))?.messages ?? [];
      const sent = spliceHistory(stored, incoming).messages;
      const answer = assistant(`a${i + 1}`);
      await store.append('s', 'k', toStore(incoming, answer));
      expect((await store.get('s', 'k'))!.messages).toEqual([...sent, answer]);
    }
    expect(texts((await store.get('s', 'k'))!.messages)).toEqual(['s2', 'u1', 'a1', 'u2', 'a2', 'u3', 'a3', 'u4', 'a4', 'tool:none', 'u5', 'a5']);
  });
});
