import OpenAI, { APIError } from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { countRequestTokens } from '../../src/accounting/token-accounting.js';
import { chatRequest } from '../fixtures/requests.js';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/** Default max_tokens, context-length refusals with numbers, and drop-oldest truncation, on the real app. */
describe('context fit against a real upstream, through the openai SDK', () => {
  let up: FakeUpstream;
  let h: RouterHarness;
  let client: OpenAI;

  beforeAll(async () => {
    up = await startFakeUpstream();
    h = await startRouter(
      `
providers:
  a: { kind: openai, apiKeys: [sk-test-a], baseURL: "${up.url}/v1", contextLength: { gpt-4o: 1000, gpt-4: 700 } }
routes:
  defaulted:
    targets: [{ provider: a, model: gpt-4o }]
    defaultMaxTokens: 300
  tight:
    targets: [{ provider: a, model: gpt-4 }, { provider: a, model: gpt-4o }]
  truncating:
    targets: [{ provider: a, model: gpt-4o }]
    truncation: { mode: drop_oldest }
`,
    );
    client = new OpenAI({ baseURL: h.baseURL, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
  });
  beforeEach(() => up.reset());

  const conversation = (turns: number): ChatCompletionMessageParam[] => {
    const messages: ChatCompletionMessageParam[] = [{ role: 'system', content: 'You are a helpful assistant.' }];
    for (let i = 0; i < turns; i++) {
      messages.push({ role: 'user', content: `Question ${i}: what do you know about the number ${i}?` });
      messages.push({
        role: 'assistant',
        content: null,
        tool_calls: [{ id: `call_${i}`, type: 'function', function: { name: 'lookup', arguments: JSON.stringify({ n: i }) } }],
      });
      messages.push({ role: 'tool', tool_call_id: `call_${i}`, content: `Facts about ${i}: `.repeat(8) });
      messages.push({ role: 'assistant', content: `The number ${i} is a fine number with several properties worth a paragraph. `.repeat(2) });
    }
    messages.push({ role: 'user', content: 'Now add them all up.' });
    return messages;
  };

  it('sends the route\'s default max_tokens upstream when the app sets none, and says so', async () => {
    const { response } = await client.chat.completions.create({ model: 'defaulted', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(response.headers.get('x-router-default-max-tokens')).toBe('300');
    const sent = up.chatRequests()[0]!.body as Record<string, unknown>;
    expect(sent.max_tokens).toBe(300);
    expect(sent).not.toHaveProperty('max_completion_tokens');
    // The app's own value wins.
    up.reset();
    const own = await client.chat.completions.create({ model: 'defaulted', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 20 }).withResponse();
    expect(own.response.headers.get('x-router-default-max-tokens')).toBeNull();
    expect(up.chatRequests()[0]!.body).toMatchObject({ max_completion_tokens: 20 });
  });

  it('refuses a prompt too long for every target with 400 context_length_exceeded and the numbers', async () => {
    const content = 'The quick brown fox jumps over the lazy dog. '.repeat(120);
    const err = (await client.chat.completions.create({ model: 'tight', messages: [{ role: 'user', content }], max_tokens: 100 }).catch((e: unknown) => e)) as APIError;
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.status).toBe(400);
    expect(err.code).toBe('context_length_exceeded');
    expect(err.param).toBe('messages');
    // Counted as the largest target (gpt-4o, o200k) counts it.
    const prompt = await countRequestTokens(chatRequest({ messages: [{ role: 'user', content }] }), 'gpt-4o');
    expect(prompt).toBeGreaterThan(900);
    expect(err.message).toContain(`This request needs ${(prompt + 100).toLocaleString('en-US')} tokens (${prompt.toLocaleString('en-US')} in the prompt + 100 max_tokens), but the largest context on route 'tight' is 1,000 tokens`);
    expect(up.chatRequests()).toHaveLength(0);
  });

  it('drops the oldest turns to fit and sends the truncated conversation, with x-router-truncated', async () => {
    const messages = conversation(12);
    const { response } = await client.chat.completions.create({ model: 'truncating', messages, max_tokens: 200 }).withResponse();
    expect(response.status).toBe(200);
    const sent = (up.chatRequests()[0]!.body as { messages: Array<Record<string, unknown>> }).messages;
    expect(sent.length).toBeLessThan(messages.length);
    expect(response.headers.get('x-router-truncated')).toBe(`${messages.length - sent.length} messages`);
    // System message first, then whole turns from a user message on, the newest kept.
    expect(sent[0]).toMatchObject({ role: 'system', content: 'You are a helpful assistant.' });
    expect(sent[1]!.role).toBe('user');
    expect(sent.at(-1)).toMatchObject({ role: 'user', content: 'Now add them all up.' });
    expect(sent.slice(1).map((m) => m.content ?? m.tool_calls)).toEqual(messages.slice(messages.length - sent.length + 1).map((m) => m.content ?? (m as { tool_calls?: unknown }).tool_calls));
    // Every tool message still follows the call it answers.
    const calls = new Set(sent.flatMap((m) => ((m.tool_calls as Array<{ id: string }> | undefined) ?? []).map((c) => c.id)));
    for (const m of sent) if (m.role === 'tool') expect(calls.has(m.tool_call_id as string)).toBe(true);
    // And it fits: prompt + max_tokens within the 1000-token context.
    const counted = await countRequestTokens(chatRequest({ messages: sent }), 'gpt-4o');
    expect(counted + 200).toBeLessThanOrEqual(1000);
  });

  it('streams truncate the same way', async () => {
    const messages = conversation(12);
    const { data, response } = await client.chat.completions.create({ model: 'truncating', messages, max_tokens: 200, stream: true }).withResponse();
    for await (const _ of data) void _;
    expect(response.headers.get('x-router-truncated')).toMatch(/^\d+ messages$/);
    expect((up.chatRequests()[0]!.body as { messages: unknown[] }).messages.length).toBeLessThan(messages.length);
  });

  it('a conversation already within the context goes untouched', async () => {
    const messages = conversation(1);
    const { response } = await client.chat.completions.create({ model: 'truncating', messages }).withResponse();
    expect(response.headers.get('x-router-truncated')).toBeNull();
    expect((up.chatRequests()[0]!.body as { messages: unknown[] }).messages).toHaveLength(messages.length);
  });

  it('refuses when even the system messages and the last user turn do not fit', async () => {
    const long = 'The quick brown fox jumps over the lazy dog. '.repeat(60);
    const messages: ChatCompletionMessageParam[] = [{ role: 'system', content: long }, ...conversation(2).slice(1, -1), { role: 'user', content: long }];
    const err = (await client.chat.completions.create({ model: 'truncating', messages }).catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(400);
    expect(err.code).toBe('context_length_exceeded');
    expect(err.message).toMatch(/needs at least [\d,]+ tokens in the system\/developer messages and the last user turn even with its oldest turns dropped, but the largest context on route 'truncating' is 1,000 tokens/);
    expect(up.chatRequests()).toHaveLength(0);
  });
});
