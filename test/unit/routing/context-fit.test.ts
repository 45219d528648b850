import { describe, expect, it } from 'vitest';
import { countRequestTokens } from '../../../src/accounting/token-accounting.js';
import { routeSchema } from '../../../src/config/schema.js';
import type { ChatMessage, ChatRequest } from '../../../src/core/chat-request.js';
import type { Capabilities, Provider } from '../../../src/core/provider.js';
import { toWireError } from '../../../src/edge/http-errors.js';
import { createDispatcher } from '../../../src/routing/dispatcher.js';
import { unfitReasonSync } from '../../../src/routing/fit.js';
import { RouteError } from '../../../src/routing/route-error.js';
import { FakeProvider } from '../../fixtures/fake-provider.js';
import { chatRequest } from '../../fixtures/requests.js';

const signal = () => new AbortController().signal;
/** 148 tokens on cl100k (gpt-4), 168 on o200k (gpt-4o). */
const LONG_WORDS = 'internationalization counterrevolutionary photosynthesis '.repeat(20);

function provider(id: string, caps: Partial<Capabilities> = {}): FakeProvider {
  const p = new FakeProvider(id);
  p.caps = { ...p.caps, ...caps };
  return p;
}

function setup(route: Record<string, unknown>, ...providers: FakeProvider[]) {
  const map = new Map<string, Provider>(providers.map((p) => [p.id, p]));
  return createDispatcher({ routes: { chat: routeSchema.parse(route) }, providers: map, disabled: new Map(), random: () => 0 });
}

const refusal = async (p: Promise<unknown>) => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(RouteError);
  return err as RouteError;
};

describe('default max_tokens', () => {
  it('is set when the app sends none, as max_tokens, and said in a header', async () => {
    const a = provider('a');
    const d = setup({ targets: [{ provider: 'a', model: 'm' }], defaultMaxTokens: 256 }, a);
    const r = await d.chat(chatRequest(), signal());
    expect(a.calls[0]!.req.params.maxTokens).toBe(256);
    expect(a.calls[0]!.req.params.maxTokensField).toBeUndefined();
    expect(r.notes?.headers).toEqual({ 'x-router-default-max-tokens': '256' });
    const s = await d.stream(chatRequest({ stream: true }), signal());
    expect(s.notes?.headers?.['x-router-default-max-tokens']).toBe('256');
  });

  it('leaves a request that set max_tokens or max_completion_tokens alone', async () => {
    const a = provider('a');
    const d = setup({ targets: [{ provider: 'a', model: 'm' }], defaultMaxTokens: 256 }, a);
    const r = await d.chat(chatRequest({ max_tokens: 10 }), signal());
    expect(a.calls[0]!.req.params.maxTokens).toBe(10);
    expect(r.notes).toBeUndefined();
    await d.chat(chatRequest({ max_completion_tokens: 20 }), signal());
    expect(a.calls[1]!.req.params).toMatchObject({ maxTokens: 20, maxTokensField: 'max_completion_tokens' });
  });

  it('is off by default, and may not exceed the cap', () => {
    expect(routeSchema.parse({ targets: [{ provider: 'a', model: 'm' }] }).defaultMaxTokens).toBeUndefined();
    expect(() => routeSchema.parse({ targets: [{ provider: 'a', model: 'm' }], defaultMaxTokens: 2000, caps: { maxTokens: 1000 } })).toThrow(/must not exceed caps.maxTokens/);
  });

  it('is applied after the caps (never reported as clamped)', async () => {
    const a = provider('a');
    const d = setup({ targets: [{ provider: 'a', model: 'm' }], defaultMaxTokens: 100, caps: { maxTokens: 100, onExceed: 'clamp' } }, a);
    const r = await d.chat(chatRequest(), signal());
    expect(r.notes?.headers).toEqual({ 'x-router-default-max-tokens': '100' });
    const both = await d.chat(chatRequest({ max_tokens: 500 }), signal());
    expect(both.notes?.headers).toEqual({ 'x-router-clamped': 'max_tokens=100' });
  });

  it('counts in the context fit', async () => {
    const req = chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }] });
    const prompt = await countRequestTokens(req, 'gpt-4o');
    const a = provider('a', { contextLength: prompt + 50 });
    const ok = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }], defaultMaxTokens: 50 }, a);
    await ok.chat(chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }] }), signal());
    const tight = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }], defaultMaxTokens: 51 }, a);
    const err = await refusal(tight.chat(chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }] }), signal()));
    expect(err.reason).toBe('context_length_exceeded');
    expect(err.message).toContain(`(${prompt} in the prompt + 51 max_tokens, the route's default)`);
  });
});

describe('context fit per target encoding', () => {
  it('sends to the target whose own tokenizer says it fits', async () => {
    const req = chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }] });
    const [cl100k, o200k] = [await countRequestTokens(req, 'gpt-4'), await countRequestTokens(req, 'gpt-4o')];
    expect(cl100k).toBeLessThan(o200k);
    const ctx = cl100k + 5;
    const a = provider('a', { contextLength: ctx });
    const b = provider('b', { contextLength: ctx });
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }, { provider: 'b', model: 'gpt-4' }] }, a, b);
    const r = await d.chat(chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }] }), signal());
    expect(r.target).toEqual({ provider: 'b', model: 'gpt-4' });
    expect(a.calls).toHaveLength(0);
  });

  it('remembers the counts for shadow traffic, per encoding', async () => {
    const a = provider('a', { contextLength: 1_000 });
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }] }, a);
    const req = chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }] });
    await d.chat(req, signal());
    expect(unfitReasonSync(req, { ...a.caps }, 'o3')).toBeUndefined();
    expect(unfitReasonSync(req, { ...a.caps, contextLength: 100 }, 'gpt-4o-mini')).toMatch(/does not fit/);
    expect(unfitReasonSync(req, { ...a.caps }, 'gpt-4')).toBe('prompt size unknown');
  });
});

describe('context_length_exceeded', () => {
  it('gives the numbers: prompt, max_tokens and the largest context of the route', async () => {
    const req = chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }], max_tokens: 10 });
    const prompt = await countRequestTokens(req, 'gpt-4');
    const a = provider('a', { contextLength: 100 });
    const b = provider('b', { contextLength: 150 });
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }, { provider: 'b', model: 'gpt-4' }] }, a, b);
    const err = await refusal(d.chat(req, signal()));
    expect(err).toMatchObject({ reason: 'context_length_exceeded', param: 'messages' });
    // Counted with the encoding of the target with the largest context (gpt-4: cl100k).
    expect(err.message).toMatch(new RegExp(`^This request needs ${prompt + 10} tokens \\(${prompt} in the prompt \\+ 10 max_tokens\\), but the largest context on route 'chat' is 150 tokens \\(`));
    expect(err.message).toContain('a/gpt-4o: prompt does not fit context of 100 tokens');
    const wire = toWireError(err);
    expect(wire.status).toBe(400);
    expect(wire.body.error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' });
  });

  it('formats large numbers and names the field the app used', async () => {
    const content = 'lorem ipsum dolor sit amet '.repeat(2_000);
    const req = chatRequest({ messages: [{ role: 'user', content }], max_completion_tokens: 1_000 });
    const prompt = await countRequestTokens(req, 'gpt-4o');
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }] }, provider('a', { contextLength: 8_192 }));
    const err = await refusal(d.chat(req, signal()));
    expect(err.message).toContain(`needs ${(prompt + 1000).toLocaleString('en-US')} tokens (${prompt.toLocaleString('en-US')} in the prompt + 1,000 max_completion_tokens), but the largest context on route 'chat' is 8,192 tokens`);
  });

  it('without max_tokens, gives the prompt alone', async () => {
    const req = chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }] });
    const prompt = await countRequestTokens(req, 'gpt-4o');
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }] }, provider('a', { contextLength: 100 }));
    const err = await refusal(d.chat(req, signal()));
    expect(err.message).toMatch(new RegExp(`^This request needs ${prompt} tokens in the prompt, but the largest context on route 'chat' is 100 tokens`));
  });

  it('counts only the targets that could otherwise serve the request', async () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
    const noTools = provider('a', { contextLength: 100_000, tools: false });
    const small = provider('b', { contextLength: 100 });
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }, { provider: 'b', model: 'gpt-4o' }] }, noTools, small);
    const err = await refusal(d.chat(chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }], tools }), signal()));
    expect(err.reason).toBe('context_length_exceeded');
    expect(err.message).toContain('the largest context on route \'chat\' is 100 tokens');
    expect(err.message).toContain('a/gpt-4o: tools not supported');
  });

  it('other reasons keep unsupported_by_route', async () => {
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }] }, provider('a', { contextLength: 100, maxChoices: 1 }));
    const err = await refusal(d.chat(chatRequest({ messages: [{ role: 'user', content: LONG_WORDS }], n: 2 }), signal()));
    expect(err.reason).toBe('no_capable_target');
    expect(toWireError(err).body.error.code).toBe('unsupported_by_route');
  });
});

describe('drop-oldest truncation on a route', () => {
  const conversation = (turns: number): ChatMessage[] => {
    const messages: ChatMessage[] = [{ role: 'system', content: 'You are a helpful assistant.' }];
    for (let i = 0; i < turns; i++) {
      messages.push({ role: 'user', content: `Question number ${i}: tell me something about the number ${i}.` });
      messages.push({ role: 'assistant', content: `The number ${i} is a fine number, and here is a long answer about it. `.repeat(3) });
    }
    messages.push({ role: 'user', content: 'And finally, what is the sum of them all?' });
    return messages;
  };
  const wire = (messages: ChatMessage[]) => messages.map((m) => ({ role: m.role, content: m.content as string }));

  it('drops the oldest turns until the prompt fits, and says how many', async () => {
    const a = provider('a', { contextLength: 400 });
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }], truncation: { mode: 'drop_oldest' } }, a);
    const original = conversation(20);
    const r = await d.chat(chatRequest({ messages: wire(original), max_tokens: 100 }), signal());
    const sent = a.calls[0]!.req;
    expect(sent.messages.length).toBeLessThan(original.length);
    expect(sent.messages[0]).toEqual(original[0]);
    expect(sent.messages.at(-1)).toEqual(original.at(-1));
    expect(sent.messages[1]!.role).toBe('user');
    // The newest turns are kept, in order.
    expect(sent.messages.slice(1)).toEqual(original.slice(original.length - sent.messages.length + 1));
    expect(await countRequestTokens(sent, 'gpt-4o')).toBeLessThanOrEqual(300);
    expect(r.notes?.headers).toEqual({ 'x-router-truncated': `${original.length - sent.messages.length} messages` });
    // Shadow traffic sees the truncated request's count.
    expect(unfitReasonSync(sent, a.caps, 'gpt-4o')).toBeUndefined();
  });

  it('fits the largest context among the targets that could otherwise serve it', async () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
    const huge = provider('a', { contextLength: 100_000, tools: false });
    const mid = provider('b', { contextLength: 600 });
    const small = provider('c', { contextLength: 300 });
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }, { provider: 'c', model: 'gpt-4o' }, { provider: 'b', model: 'gpt-4o' }], truncation: { mode: 'drop_oldest' } }, huge, mid, small);
    const r = await d.chat(chatRequest({ messages: wire(conversation(20)), tools }), signal());
    expect(r.target.provider).toBe('b');
    expect(await countRequestTokens(mid.calls[0]!.req, 'gpt-4o')).toBeLessThanOrEqual(600);
    expect(await countRequestTokens(mid.calls[0]!.req, 'gpt-4o')).toBeGreaterThan(300);
  });

  it('leaves a request alone when some target fits it', async () => {
    const small = provider('a', { contextLength: 300 });
    const big = provider('b', { contextLength: 100_000 });
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }, { provider: 'b', model: 'gpt-4o' }], truncation: { mode: 'drop_oldest' } }, small, big);
    const original = conversation(20);
    const r = await d.chat(chatRequest({ messages: wire(original) }), signal());
    expect(r.target.provider).toBe('b');
    expect(big.calls[0]!.req.messages).toHaveLength(original.length);
    expect(r.notes).toBeUndefined();
  });

  it('refuses with context_length_exceeded when even the minimal conversation does not fit', async () => {
    const d = setup({ targets: [{ provider: 'a', model: 'gpt-4o' }], truncation: { mode: 'drop_oldest' } }, provider('a', { contextLength: 400 }));
    const messages = [{ role: 'system', content: LONG_WORDS }, { role: 'user', content: 'old' }, { role: 'assistant', content: 'reply' }, { role: 'user', content: LONG_WORDS }];
    const req: ChatRequest = chatRequest({ messages, max_tokens: 100 });
    const minimal = await countRequestTokens({ ...req, messages: [req.messages[0]!, req.messages[3]!] }, 'gpt-4o');
    const err = await refusal(d.chat(req, signal()));
    expect(err.reason).toBe('context_length_exceeded');
    expect(err.message).toMatch(new RegExp(`^This request needs at least ${minimal + 100} tokens \\(${minimal} in the system/developer messages and the last user turn \\+ 100 max_tokens\\) even with its oldest turns dropped, but the largest context on route 'chat' is 400 tokens`));
    // The request was not changed.
    expect(req.messages).toHaveLength(4);
  });
});
