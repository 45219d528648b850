import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../../src/core/chat-request.js';
import { sessionsSchema } from '../../../src/sessions/session-schema.js';
import { createMemorySessionStore, createRedisSessionStore, type SessionStore } from '../../../src/sessions/session-store.js';
import { RedisConnection } from '../../../src/state/redis/redis-connection.js';
import { redisSchema } from '../../../src/state/state-schema.js';
import { deletePrefix, TEST_REDIS_URL } from '../state/redis-test-support.js';
import { parseResponsesRequest } from '../../../src/wire/responses/parse-responses-request.js';
import { chatCompletionSchema, fromChatCompletion } from '../../../src/wire/responses/response-object.js';
import { deleteResponse, loadResponse, saveResponse } from '../../../src/wire/responses/response-store.js';

const completion = (message: Record<string, unknown>, finish = 'stop') =>
  chatCompletionSchema.parse({
    id: 'chatcmpl-x',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', refusal: null, ...message }, logprobs: null, finish_reason: finish }],
    usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9, prompt_tokens_details: { cached_tokens: 4 } },
  });

const env = { id: 'resp_abc', createdAt: 1_700_000_000 };

describe('chat.completion → Response', () => {
  it('text answer: a completed message with output_text, usage in Responses names', () => {
    const r = fromChatCompletion(parseResponsesRequest({ model: 'chat', input: 'hi' }), env, completion({ content: 'hello' }), 1_700_000_002);
    expect(r).toMatchObject({
      id: 'resp_abc',
      object: 'response',
      created_at: 1_700_000_000,
      completed_at: 1_700_000_002,
      status: 'completed',
      error: null,
      incomplete_details: null,
      model: 'gpt-4o-mini',
      output: [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'hello', annotations: [] }] }],
      usage: { input_tokens: 7, input_tokens_details: { cached_tokens: 4, cache_write_tokens: 0 }, output_tokens: 2, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 9 },
      parallel_tool_calls: true,
      tool_choice: 'auto',
      tools: [],
      store: true,
    });
    expect(String((r.output as Array<{ id: string }>)[0]!.id)).toMatch(/^msg_[0-9a-f]{48}$/);
  });

  it('tool calls become function_call items; length is incomplete', () => {
    const calls = fromChatCompletion(parseResponsesRequest({ model: 'chat', input: 'hi' }), env, completion({ content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] }, 'tool_calls'));
    expect(calls.output).toEqual([expect.objectContaining({ type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}', status: 'completed' })]);
    const cut = fromChatCompletion(parseResponsesRequest({ model: 'chat', input: 'hi' }), env, completion({ content: 'abc' }, 'length'));
    expect(cut).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, completed_at: null });
  });
});

const prefix = `llm-router-test:${process.pid}-${Date.now()}:resp:`;
let conn: RedisConnection | undefined;
let n = 0;
afterAll(async () => {
  if (!conn) return;
  await deletePrefix(TEST_REDIS_URL, prefix);
  await conn.close();
});

/** The same behaviour on both session backends (Redis: the shared test Redis, under a prefix of this run). */
describe.each(['memory', 'redis'] as const)('stored responses on the session store (%s)', (backend) => {
  beforeAll(async () => {
    if (backend !== 'redis' || conn) return;
    conn = new RedisConnection(redisSchema.parse({ url: TEST_REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 2_000 }));
    expect(await conn.waitReady(5_000)).toBe(true);
  });
  const open = (cfg: Record<string, unknown> = {}): SessionStore =>
    backend === 'memory' ? createMemorySessionStore(sessionsSchema.parse(cfg)) : createRedisSessionStore(sessionsSchema.parse(cfg), { connection: conn!, keyPrefix: `${prefix}${++n}:` });
  const store = () => open();

  it('keeps the Response and its conversation per owner; a continuation gets the answer back as messages', async () => {
    const s = store();
    const req = parseResponsesRequest({ model: 'chat', input: 'what is 2+2?', instructions: 'not carried over' });
    const response = fromChatCompletion(req, env, completion({ content: '4', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'calc', arguments: '{}' } }] }, 'tool_calls'));
    const history: ChatMessage[] = [{ role: 'user', content: 'earlier' }, { role: 'assistant', content: 'ok' }];
    await saveResponse(s, 'key-a', response, history, req.input);
    const loaded = await loadResponse(s, 'resp_abc', 'key-a');
    expect(loaded?.response).toEqual(response);
    expect(loaded?.conversation).toEqual([
      ...history,
      { role: 'user', content: 'what is 2+2?' },
      { role: 'assistant', content: '4', toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'calc', arguments: '{}' } }] },
    ]);
    // Another key's id is simply not found; so is an app's own session that is not a response.
    expect(await loadResponse(s, 'resp_abc', 'key-b')).toBeUndefined();
    await s.append('resp_mine', 'key-a', [{ role: 'user', content: 'x' }]);
    expect(await loadResponse(s, 'resp_mine', 'key-a')).toBeUndefined();
    expect(await deleteResponse(s, 'resp_mine', 'key-a')).toBe(false);
    expect(await loadResponse(s, 'not a session id!', 'key-a')).toBeUndefined();
    expect(await deleteResponse(s, 'resp_abc', 'key-b')).toBe(false);
    expect(await deleteResponse(s, 'resp_abc', 'key-a')).toBe(true);
    expect(await loadResponse(s, 'resp_abc', 'key-a')).toBeUndefined();
  });

  it('a conversation over the session caps loses its oldest turns, not the response', async () => {
    const s = open({ maxSessionBytes: 4000 });
    const req = parseResponsesRequest({ model: 'chat', input: 'newest' });
    const response = fromChatCompletion(req, env, completion({ content: 'fine' }));
    const history: ChatMessage[] = [];
    for (let i = 0; i < 20; i++) history.push({ role: 'user', content: `turn ${i} ${'x'.repeat(200)}` }, { role: 'assistant', content: `reply ${i}` });
    await saveResponse(s, 'key-a', response, history, req.input);
    const loaded = await loadResponse(s, 'resp_abc', 'key-a');
    expect(loaded?.response).toEqual(response);
    const conv = loaded!.conversation;
    expect(conv.length).toBeLessThan(history.length + 2);
    expect(conv[0]).toMatchObject({ role: 'user' });
    expect(conv.at(-2)).toEqual({ role: 'user', content: 'newest' });
    expect(conv.at(-1)).toEqual({ role: 'assistant', content: 'fine' });
  });
});
