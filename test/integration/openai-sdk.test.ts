import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/** The real app with real adapters in front of two fake upstreams, driven by the official SDK. */
describe('the router through the official openai SDK', () => {
  let primary: FakeUpstream;
  let azure: FakeUpstream;
  let h: RouterHarness;
  let client: OpenAI;

  beforeAll(async () => {
    primary = await startFakeUpstream();
    azure = await startFakeUpstream();
    h = await startRouter(
      `
auth: { keys: [app-key] }
providers:
  primary: { kind: openai, apiKeys: [sk-primary-secret-1, sk-primary-secret-2], baseURL: "${primary.url}/v1", timeoutMs: 2000 }
  azure:   { kind: azure-openai, endpoint: "${azure.url}", apiKey: az-secret-key, deployments: { gpt-4o-mini: mini-deploy } }
routes:
  chat:
    targets: [{ provider: primary, model: gpt-4o-mini }, { provider: azure, model: gpt-4o-mini }]
    retry: { attempts: 1 }
    # These tests fail the primary on purpose, call after call; its breaker is the chaos suite's subject.
    breaker: { minRequests: 1000 }
    firstTokenTimeoutMs: 1500
    idleTimeoutMs: 500
  primary-only:
    targets: [{ provider: primary, model: gpt-4o-mini }]
    idleTimeoutMs: 500
`,
    );
    client = new OpenAI({ baseURL: h.baseURL, apiKey: 'app-key', maxRetries: 0 });
  });
  afterAll(async () => {
    await h.close();
    await primary.close();
    await azure.close();
  });
  beforeEach(() => {
    primary.reset();
    azure.reset();
  });

  const messages = [{ role: 'user' as const, content: 'ping' }];

  it('chats, saying which real model answered', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'chat', messages, max_completion_tokens: 20 }).withResponse();
    expect(data.choices[0]!.message.content).toBe('echo: ping');
    expect(data.model).toBe('gpt-4o-mini');
    expect(data.usage?.total_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-router-provider')).toBe('primary');
    const sent = primary.chatRequests()[0]!;
    expect(sent.body).toMatchObject({ model: 'gpt-4o-mini', max_completion_tokens: 20 });
    expect(sent.headers.authorization).toMatch(/^Bearer sk-primary-secret-/);
  });

  it('streams with usage when asked', async () => {
    const stream = await client.chat.completions.create({ model: 'chat', messages, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('echo: ping');
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('passes tools through and returns tool calls, whole and streamed', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { input: { type: 'string' } } } } }];
    const r = await client.chat.completions.create({ model: 'chat', messages, tools });
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    const call = r.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ input: 'ping' });

    const stream = client.chat.completions.stream({ model: 'chat', messages, tools, stream: true });
    const final = await stream.finalChatCompletion();
    const streamed = final.choices[0]!.message.tool_calls![0]!;
    expect(streamed.type === 'function' && streamed.function.name).toBe('lookup');
    expect(streamed.type === 'function' && JSON.parse(streamed.function.arguments)).toEqual({ input: 'ping' });
  });

  it('forwards fields it does not model untouched', async () => {
    await client.chat.completions.create({ model: 'chat', messages, logit_bias: { '42': -5 }, metadata: { team: 'x' }, seed: 3, user: 'u1', n: 2 });
    expect(primary.chatRequests()[0]!.body).toMatchObject({ logit_bias: { '42': -5 }, metadata: { team: 'x' }, seed: 3, user: 'u1', n: 2 });
  });

  it('falls back to Azure on a 500 and a 429, and says so', async () => {
    primary.script({ status: 500 });
    const { data, response } = await client.chat.completions.create({ model: 'chat', messages }).withResponse();
    expect(data.choices[0]!.message.content).toBe('echo: ping');
    expect(response.headers.get('x-router-provider')).toBe('azure');
    expect(response.headers.get('x-router-fallback')).toBe('primary/gpt-4o-mini:server');
    expect(azure.chatRequests()[0]!.path).toBe('/openai/deployments/mini-deploy/chat/completions');

    primary.script({ status: 429, headers: { 'retry-after-ms': '50' } }, { status: 429, headers: { 'retry-after-ms': '50' } });
    const second = await client.chat.completions.create({ model: 'chat', messages }).withResponse();
    expect(second.response.headers.get('x-router-provider')).toBe('azure');
    // Both keys tried before the next target: a 429 on one key is not yet the provider's.
    expect(new Set(primary.chatRequests().slice(-2).map((r) => r.headers.authorization)).size).toBe(2);
    await new Promise((r) => setTimeout(r, 60)); // let the rested keys come back
  });

  it('falls back before the first byte of a stream: cut, malformed, 200 error body, slow', async () => {
    for (const b of [{ cutAfterChunks: 0 }, { malformedChunk: true }, { errorBody200: true }, { delayMs: 2500 }]) {
      primary.script(b);
      const { data: stream, response } = await client.chat.completions.create({ model: 'chat', messages, stream: true }).withResponse();
      let text = '';
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
      expect(text, JSON.stringify(b)).toBe('echo: ping');
      expect(response.headers.get('x-router-provider')).toBe('azure');
    }
  });

  it('ends a stream cut after its first bytes with an error the SDK raises', async () => {
    primary.script({ cutAfterChunks: 2 });
    const stream = await client.chat.completions.create({ model: 'primary-only', messages, stream: true });
    const read = async () => {
      for await (const _ of stream) {
        /* drain */
      }
    };
    await expect(read()).rejects.toThrow(/interrupted/);
  });

  it('ends a stalled stream with an error instead of hanging', async () => {
    primary.script({ stallAfterChunks: 2, stallMs: 3000 });
    const stream = await client.chat.completions.create({ model: 'primary-only', messages, stream: true });
    const t0 = Date.now();
    await expect((async () => { for await (const _ of stream) { /* drain */ } })()).rejects.toThrow(/stalled/);
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('raises every error class as the SDK expects, leaking no secret', async () => {
    await expect(client.chat.completions.create({ model: 'nope', messages })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.chat.completions.create({ model: 'chat', messages, temperature: 9 })).rejects.toMatchObject({ status: 400, param: 'temperature' });
    await expect(new OpenAI({ baseURL: h.baseURL, apiKey: 'wrong', maxRetries: 0 }).models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    primary.script({ status: 503 });
    const down = await client.chat.completions.create({ model: 'primary-only', messages }).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(APIError);
    expect((down as APIError).status).toBe(502);
    expect(String((down as Error).message)).toContain('primary');
    expect(JSON.stringify(down)).not.toContain('sk-primary-secret');

    primary.script({ delayMs: 3000 });
    const slow = (await client.chat.completions.create({ model: 'primary-only', messages }).catch((e: unknown) => e)) as APIError;
    expect(slow.status).toBe(504);

    primary.script({ status: 400, body: { error: { message: 'bad thing', type: 'invalid_request_error', param: 'messages', code: null } } });
    const invalid = (await client.chat.completions.create({ model: 'chat', messages }).catch((e: unknown) => e)) as APIError;
    expect(invalid).toBeInstanceOf(OpenAI.BadRequestError);
    expect(azure.chatRequests()).toHaveLength(0);
  });

  it('aborts the upstream call when the app disconnects', async () => {
    primary.script({ delayMs: 1000 });
    const ctl = new AbortController();
    const p = client.chat.completions.create({ model: 'primary-only', messages }, { signal: ctl.signal });
    await new Promise((r) => setTimeout(r, 200));
    ctl.abort();
    await expect(p).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 300));
    expect(primary.chatRequests()[0]!.clientClosed).toBe(true);
  });

  it('answers 429 with Retry-After when every key of the only target is rate-limited', async () => {
    primary.script({ status: 429, headers: { 'retry-after': '3' } }, { status: 429, headers: { 'retry-after': '3' } });
    const limited = (await client.chat.completions.create({ model: 'primary-only', messages }).catch((e: unknown) => e)) as APIError;
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited.headers?.get('retry-after')).toBe('3');
    // While both keys rest, the route still answers through its fallback, sending nothing to primary.
    const sent = primary.chatRequests().length;
    const r = await client.chat.completions.create({ model: 'chat', messages }).withResponse();
    expect(r.response.headers.get('x-router-provider')).toBe('azure');
    expect(primary.chatRequests()).toHaveLength(sent);
  });

  it('lists routes as models', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['chat', 'primary-only']);
  });
});
