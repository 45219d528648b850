import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../../src/core/chat-request.js';
import { countRequestTokens } from '../../../src/accounting/token-accounting.js';
import { droppableGroups, dropOldest } from '../../../src/routing/truncate.js';
import { chatRequest } from '../../fixtures/requests.js';

const sys = (content: string): ChatMessage => ({ role: 'system', content });
const dev = (content: string): ChatMessage => ({ role: 'developer', content });
const user = (content: string): ChatMessage => ({ role: 'user', content });
const asst = (content: string): ChatMessage => ({ role: 'assistant', content });
const call = (...ids: string[]): ChatMessage => ({
  role: 'assistant',
  content: null,
  toolCalls: ids.map((id) => ({ id, type: 'function', function: { name: 'lookup', arguments: `{"q":"${id}"}` } })),
});
const result = (id: string, content = `result of ${id}`): ChatMessage => ({ role: 'tool', toolCallId: id, content });

/** A count easy to reason about: one token per character of content, 10 per message. */
const simple = async (messages: ChatMessage[]) => messages.reduce((n, m) => n + 10 + (typeof m.content === 'string' ? m.content.length : 0), 0);
const labels = (messages: ChatMessage[]) => messages.map((m) => (typeof m.content === 'string' ? m.content : m.role === 'assistant' ? `call:${m.toolCalls?.map((c) => c.id).join(',')}` : ''));

describe('drop-oldest truncation', () => {
  it('returns a conversation that already fits untouched (the same array)', async () => {
    const messages = [sys('s'), user('u1'), asst('a1'), user('u2')];
    const r = await dropOldest(messages, 1_000, simple);
    expect(r).toEqual({ fits: true, messages, dropped: 0, tokens: 4 * 10 + 7 });
    if (r.fits) expect(r.messages).toBe(messages);
  });

  it('drops the oldest turns first, and no more than needed', async () => {
    const messages = [sys('s'), user('u1'), asst('a1'), user('u2'), asst('a2'), user('u3'), asst('a3'), user('u4')];
    const full = await simple(messages);
    // One turn (u1 + a1: 24 tokens) must go.
    const r = await dropOldest(messages, full - 1, simple);
    expect(r.fits && labels(r.messages)).toEqual(['s', 'u2', 'a2', 'u3', 'a3', 'u4']);
    expect(r).toMatchObject({ fits: true, dropped: 2 });
    // Two turns.
    const r2 = await dropOldest(messages, full - 25, simple);
    expect(r2.fits && labels(r2.messages)).toEqual(['s', 'u3', 'a3', 'u4']);
  });

  it('keeps every system and developer message, wherever it is', async () => {
    const messages = [sys('s'), dev('d'), user('u1'), asst('a1'), sys('mid'), user('u2'), asst('a2'), user('u3')];
    const r = await dropOldest(messages, 60, simple);
    expect(r.fits && labels(r.messages)).toEqual(['s', 'd', 'mid', 'u3']);
    expect(r).toMatchObject({ dropped: 4 });
  });

  it('keeps the last user turn and everything after it (an agent loop running since it)', async () => {
    const messages = [user('old'), asst('reply'), user('task'), call('c1'), result('c1'), call('c2'), result('c2')];
    const r = await dropOldest(messages, (await simple(messages)) - 1, simple);
    expect(r.fits && r.messages).toEqual(messages.slice(2));
    // Even the whole tail is never cut.
    const min = await simple(messages.slice(2));
    expect(await dropOldest(messages, min - 1, simple)).toEqual({ fits: false, tokens: min });
  });

  it('drops an assistant tool call together with the tool messages answering it', async () => {
    const messages = [user('u1'), call('c1', 'c2'), result('c1'), result('c2'), asst('a1'), user('u2'), asst('a2'), user('u3')];
    const groups = droppableGroups(messages);
    expect(groups).toEqual([[0, 1, 2, 3, 4], [5, 6]]);
    const r = await dropOldest(messages, (await simple(messages)) - 1, simple);
    expect(r.fits && labels(r.messages)).toEqual(['u2', 'a2', 'u3']);
    // No tool message is ever left without its call.
    if (r.fits) expect(r.messages.some((m) => m.role === 'tool')).toBe(false);
  });

  it('keeps turns linked by a call id together, and keeps a call answered after the last user message', async () => {
    // A call answered only after a user message in between: both turns go as one.
    const linked = [user('u1'), call('c1'), user('u2'), result('c1'), asst('a'), user('u3')];
    expect(droppableGroups(linked)).toEqual([[0, 1, 2, 3, 4]]);
    // A call whose answer is in the kept tail stays (and so does its turn).
    const pinned = [user('u1'), asst('a1'), user('u2'), call('c9'), user('u3'), result('c9')];
    expect(droppableGroups(pinned)).toEqual([[0, 1]]);
    const r = await dropOldest(pinned, 0 + (await simple(pinned.slice(2))), simple);
    expect(r.fits && r.messages).toEqual(pinned.slice(2));
  });

  it('treats messages before the first user message as a turn of their own', async () => {
    const messages = [sys('s'), asst('greeting'), user('u1'), asst('a1'), user('u2')];
    expect(droppableGroups(messages)).toEqual([[1], [2, 3]]);
    const r = await dropOldest(messages, (await simple(messages)) - 1, simple);
    expect(r.fits && labels(r.messages)).toEqual(['s', 'u1', 'a1', 'u2']);
  });

  it('refuses when even the minimal conversation does not fit, with its size', async () => {
    const messages = [sys('a long system prompt'), user('u1'), asst('a1'), user('the question')];
    const minimal = await simple([messages[0]!, messages[3]!]);
    expect(await dropOldest(messages, minimal - 1, simple)).toEqual({ fits: false, tokens: minimal });
    // A budget below zero (max_tokens alone exceeds the context).
    expect(await dropOldest(messages, -5, simple)).toMatchObject({ fits: false });
    // Nothing droppable at all.
    expect(await dropOldest([sys('s'), user('q')], 1, simple)).toEqual({ fits: false, tokens: 22 });
  });

  it('keeps the last message when there is no user message', async () => {
    const messages = [sys('s'), asst('a1'), asst('a2')];
    expect(droppableGroups(messages)).toEqual([[1]]);
  });

  it('never changes its input', async () => {
    const messages = [sys('s'), user('u1'), call('c1'), result('c1'), user('u2')];
    const copy = structuredClone(messages);
    await dropOldest(messages, 30, simple);
    expect(messages).toEqual(copy);
  });

  it('counts O(log turns) times', async () => {
    const messages: ChatMessage[] = [sys('s')];
    for (let i = 0; i < 256; i++) messages.push(user(`question ${i}`), asst(`answer ${i}`));
    messages.push(user('last'));
    let calls = 0;
    const counting = async (m: ChatMessage[]) => {
      calls++;
      return simple(m);
    };
    const r = await dropOldest(messages, (await simple(messages)) / 2, counting);
    expect(r.fits).toBe(true);
    // Full, minimal, then a binary search over 256 turns.
    expect(calls).toBeLessThanOrEqual(2 + 9);
    // The most that fits: one turn more (back) would not.
    if (!r.fits) return;
    const half = (await simple(messages)) / 2;
    const tail = r.messages.length - 1;
    expect(r.messages).toEqual([messages[0], ...messages.slice(messages.length - tail)]);
    expect(await simple(r.messages)).toBeLessThanOrEqual(half);
    expect(await simple([messages[0]!, ...messages.slice(messages.length - tail - 2)])).toBeGreaterThan(half);
  });

  it('works with the real bounded counter', async () => {
    const req = chatRequest();
    const messages: ChatMessage[] = [sys('You are terse.')];
    for (let i = 0; i < 20; i++) messages.push(user(`Tell me about topic number ${i}. `.repeat(10)), asst(`Topic ${i} is interesting. `.repeat(10)));
    messages.push(user('Summarise.'));
    const count = (m: ChatMessage[]) => countRequestTokens({ ...req, messages: m }, 'gpt-4o');
    const r = await dropOldest(messages, 500, count);
    expect(r.fits).toBe(true);
    if (!r.fits) return;
    expect(r.tokens).toBeLessThanOrEqual(500);
    expect(await count(r.messages)).toBe(r.tokens);
    expect(r.messages[0]).toBe(messages[0]);
    expect(r.messages.at(-1)).toBe(messages.at(-1));
    expect(r.messages[1]!.role).toBe('user');
  });
});
