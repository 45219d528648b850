import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

type SentBody = { messages: Array<{ role: string; content: unknown; tool_calls?: unknown; tool_call_id?: string }>; [k: string]: unknown };

/** The Responses API (/v1/responses) over the router's chat path, through the real app and the official openai SDK. */
describe('the Responses API through the official openai SDK', () => {
  let primary: FakeUpstream;
  let azure: FakeUpstream;
  let h: RouterHarness;
  let client: OpenAI;
  let other: OpenAI;

  beforeAll(async () => {
    primary = await startFakeUpstream();
    azure = await startFakeUpstream();
    h = await startRouter(`
auth: { keys: [key-a, key-b] }
providers:
  primary: { kind: openai, apiKeys: [sk-primary], baseURL: "${primary.url}/v1", timeoutMs: 2000 }
  azure:   { kind: azure-openai, endpoint: "${azure.url}", apiKey: az-secret, deployments: { gpt-4o-mini: mini-deploy } }
routes:
  chat:
    targets: [{ provider: primary, model: gpt-4o-mini }, { provider: azure, model: gpt-4o-mini }]
    retry: { attempts: 1 }
    breaker: { minRequests: 1000 }
    idleTimeoutMs: 500
  primary-only:
    targets: [{ provider: primary, model: gpt-4o-mini }]
    retry: { attempts: 1 }
    breaker: { minRequests: 1000 }
`);
    client = new OpenAI({ baseURL: h.baseURL, apiKey: 'key-a', maxRetries: 0 });
    other = new OpenAI({ baseURL: h.baseURL, apiKey: 'key-b', maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await primary?.close();
    await azure?.close();
  });
  beforeEach(() => {
    primary.reset();
    azure.reset();
  });

  const lastSent = (up: FakeUpstream = primary) => up.chatRequests().at(-1)!.body as SentBody;

  /** The APIError a call fails with. */
  async function failure(p: Promise<unknown>): Promise<APIError> {
    try {
      await p;
    } catch (e) {
      if (e instanceof APIError) return e;
      throw e;
    }
    throw new Error('the call succeeded');
  }

  it('answers a string input with a Response: output_text, usage, the router headers', async () => {
    const { data, response } = await client.responses.create({ model: 'chat', input: 'hello there', max_output_tokens: 50 }).withResponse();
    expect(data).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-4o-mini', error: null, incomplete_details: null, store: true });
    expect(data.id).toMatch(/^resp_/);
    expect(data.output_text).toBe('echo: hello there');
    expect(data.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'echo: hello there', annotations: [] }] });
    expect(data.usage?.input_tokens).toBeGreaterThan(0);
    expect(data.usage?.output_tokens).toBeGreaterThan(0);
    expect(data.usage?.total_tokens).toBe(data.usage!.input_tokens + data.usage!.output_tokens);
    expect(response.headers.get('x-router-provider')).toBe('primary');
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(lastSent()).toMatchObject({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }], max_completion_tokens: 50 });
  });

  it('sends instructions first, and items with a function call and its output as chat tool messages', async () => {
    const r = await client.responses.create({
      model: 'chat',
      instructions: 'You are terse.',
      input: [
        { role: 'user', content: 'what is the weather?' },
        { type: 'function_call', call_id: 'call_7', name: 'weather', arguments: '{"city":"Oslo"}' },
        { type: 'function_call_output', call_id: 'call_7', output: 'sunny' },
        { role: 'user', content: [{ type: 'input_text', text: 'so?' }] },
      ],
    });
    expect(r.output_text).toBe('echo: so?');
    expect(lastSent().messages).toEqual([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'what is the weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_7', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', content: 'sunny', tool_call_id: 'call_7' },
      { role: 'user', content: 'so?' },
    ]);
    expect(r.instructions).toBe('You are terse.');
  });

  it('returns function_call items for tool calls', async () => {
    const r = await client.responses.create({ model: 'chat', input: 'ping', tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: { input: { type: 'string' } } }, strict: false }] });
    const call = r.output.find((o) => o.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', call_id: 'call_0', name: 'lookup', status: 'completed' });
    expect(call?.type === 'function_call' && JSON.parse(call.arguments)).toEqual({ input: 'ping' });
    expect(lastSent().tools).toEqual([{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { input: { type: 'string' } } }, strict: false } }]);
    expect(r.tools).toEqual([expect.objectContaining({ type: 'function', name: 'lookup', strict: false })]);
  });

  it('maps text.format json_schema to response_format, and the SDK parses the output', async () => {
    primary.script({ content: '{"city":"Oslo","temp":3}' });
    const schema = { type: 'object', properties: { city: { type: 'string' }, temp: { type: 'number' } }, required: ['city', 'temp'], additionalProperties: false };
    const r = await client.responses.parse({ model: 'chat', input: 'weather as JSON', text: { format: { type: 'json_schema', name: 'weather', schema, strict: true } } });
    expect(r.output_parsed).toEqual({ city: 'Oslo', temp: 3 });
    expect(lastSent().response_format).toEqual({ type: 'json_schema', json_schema: { name: 'weather', schema, strict: true } });
    expect(r.text?.format).toMatchObject({ type: 'json_schema', name: 'weather' });
  });

  it('continues a conversation over a chain of three responses (previous_response_id); instructions are not carried over', async () => {
    const r1 = await client.responses.create({ model: 'chat', input: 'one', instructions: 'first rules' });
    const r2 = await client.responses.create({ model: 'chat', input: 'two', previous_response_id: r1.id });
    const r3 = await client.responses.create({ model: 'chat', input: [{ role: 'user', content: 'three' }], previous_response_id: r2.id, instructions: 'third rules' });
    expect(r3.output_text).toBe('echo: three');
    expect(r3.previous_response_id).toBe(r2.id);
    expect(lastSent().messages).toEqual([
      { role: 'system', content: 'third rules' },
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'echo: one' },
      { role: 'user', content: 'two' },
      { role: 'assistant', content: 'echo: two' },
      { role: 'user', content: 'three' },
    ]);
    // Another key cannot continue from (or read) this key's responses.
    const e = await failure(other.responses.create({ model: 'chat', input: 'x', previous_response_id: r2.id }));
    expect(e.status).toBe(404);
    expect(e.param).toBe('previous_response_id');
    expect(e.message).toContain(r2.id);
  });

  it('continues after a tool call: the function_call_output answers the stored call', async () => {
    const tools: OpenAI.Responses.Tool[] = [{ type: 'function', name: 'lookup', parameters: { type: 'object' }, strict: false }];
    const r1 = await client.responses.create({ model: 'chat', input: 'find it', tools });
    const call = r1.output.find((o) => o.type === 'function_call')!;
    expect(call.type).toBe('function_call');
    const callId = call.type === 'function_call' ? call.call_id : '';
    await client.responses.create({ model: 'chat', previous_response_id: r1.id, input: [{ type: 'function_call_output', call_id: callId, output: 'found' }], tools, tool_choice: 'none' });
    expect(lastSent().messages.slice(-3)).toEqual([
      { role: 'user', content: 'find it' },
      { role: 'assistant', content: null, tool_calls: [{ id: callId, type: 'function', function: { name: 'lookup', arguments: '{"input":"find it"}' } }] },
      { role: 'tool', content: 'found', tool_call_id: callId },
    ]);
  });

  it('streams the Responses event sequence; the SDK helper rebuilds the final response', async () => {
    const stream = client.responses.stream({ model: 'chat', input: 'stream me please' });
    const types: string[] = [];
    const seq: number[] = [];
    let deltas = '';
    for await (const e of stream) {
      types.push(e.type);
      seq.push(e.sequence_number);
      if (e.type === 'response.output_text.delta') deltas += e.delta;
    }
    const final = await stream.finalResponse();
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    expect(types.filter((t) => t === 'response.output_text.delta').length).toBeGreaterThan(1);
    expect(seq).toEqual(seq.map((_, i) => i));
    expect(deltas).toBe('echo: stream me please');
    expect(final.output_text).toBe('echo: stream me please');
    expect(final.status).toBe('completed');
    expect(final.usage?.output_tokens).toBeGreaterThan(0);
    expect(lastSent()).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    // Stored before the final event: GET has it at once.
    expect((await client.responses.retrieve(final.id)).output_text).toBe('echo: stream me please');
  });

  it('streams with create({ stream: true }), tool calls included', async () => {
    const stream = await client.responses.create({ model: 'chat', input: 'ping', stream: true, tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object' }, strict: false }] });
    let args = '';
    let done: OpenAI.Responses.Response | undefined;
    const types: string[] = [];
    for await (const e of stream) {
      types.push(e.type);
      if (e.type === 'response.function_call_arguments.delta') args += e.delta;
      if (e.type === 'response.completed') done = e.response;
    }
    expect(types).toContain('response.function_call_arguments.done');
    expect(JSON.parse(args)).toEqual({ input: 'ping' });
    expect(done?.output.find((o) => o.type === 'function_call')).toMatchObject({ call_id: 'call_0', name: 'lookup', arguments: '{"input":"ping"}' });
  });

  it('an in-stream failure ends with an error event and response.failed, never a silent end', async () => {
    primary.script({ cutAfterChunks: 3 });
    const stream = await client.responses.create({ model: 'primary-only', input: 'a b c d e f', stream: true });
    const types: string[] = [];
    let failed: OpenAI.Responses.Response | undefined;
    for await (const e of stream) {
      types.push(e.type);
      if (e.type === 'response.failed') failed = e.response;
    }
    expect(types.slice(-2)).toEqual(['error', 'response.failed']);
    expect(failed?.status).toBe('failed');
    expect(failed?.error?.message).toMatch(/interrupted/i);
  });

  it('an app that leaves mid-stream stops the upstream call', async () => {
    primary.script({ streamForever: { everyMs: 20 } });
    const stream = await client.responses.create({ model: 'primary-only', input: 'go on', stream: true });
    let deltas = 0;
    for await (const e of stream) {
      if (e.type === 'response.output_text.delta' && ++deltas === 3) break; // the SDK aborts the request
    }
    const call = primary.chatRequests()[0]!;
    for (let i = 0; i < 100 && !call.clientClosed; i++) await new Promise((r) => setTimeout(r, 20));
    expect(call.clientClosed).toBe(true);
  });

  it('an upstream error before the stream started is the HTTP error, in OpenAI shape', async () => {
    primary.script({ status: 400 });
    const e = await failure(client.responses.create({ model: 'primary-only', input: 'x', stream: true }));
    expect(e.status).toBe(400);
    expect(e.param).toBe('temperature');
    primary.script({ status: 400 });
    const j = await failure(client.responses.create({ model: 'primary-only', input: 'x' }));
    expect(j.status).toBe(400);
    expect(j.error).toMatchObject({ type: 'invalid_request_error' });
  });

  it('falls back to the secondary when the primary is down, JSON and streamed', async () => {
    primary.script({ status: 500 });
    const { data, response } = await client.responses.create({ model: 'chat', input: 'hi' }).withResponse();
    expect(data.output_text).toBe('echo: hi');
    expect(response.headers.get('x-router-provider')).toBe('azure');
    expect(response.headers.get('x-router-fallback')).toBe('primary/gpt-4o-mini:server');
    expect(data.usage?.total_tokens).toBeGreaterThan(0);

    primary.script({ status: 503 });
    const { data: stream, response: sres } = await client.responses.create({ model: 'chat', input: 'hi again', stream: true }).withResponse();
    let final: OpenAI.Responses.Response | undefined;
    for await (const e of stream) if (e.type === 'response.completed') final = e.response;
    expect(sres.headers.get('x-router-provider')).toBe('azure');
    const text = final?.output.flatMap((o) => (o.type === 'message' ? o.content : [])).map((c) => (c.type === 'output_text' ? c.text : '')).join('');
    expect(text).toBe('echo: hi again');
    expect(final?.usage?.total_tokens).toBeGreaterThan(0);
  });

  it('refuses what it does not serve with a 400 naming the field', async () => {
    const unknown = await failure(client.responses.create({ model: 'chat', input: 'x', reasoning: { effort: 'low' } }));
    expect(unknown.status).toBe(400);
    expect(unknown.param).toBe('reasoning');
    expect(unknown.code).toBe('unknown_parameter');
    const hosted = await failure(client.responses.create({ model: 'chat', input: 'x', tools: [{ type: 'web_search' }] }));
    expect(hosted.param).toBe('tools[0].type');
    const file = await failure(client.responses.create({ model: 'chat', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1', detail: 'auto' }] }] }));
    expect(file.param).toBe('input[0].content[0].file_id');
    const type = await failure(client.responses.create({ model: 'chat', input: 'x', temperature: 5 }));
    expect(type.param).toBe('temperature');
    const model = await failure(client.responses.create({ model: 'no-such-route', input: 'x' }));
    expect(model.status).toBe(404);
    expect(model.param).toBe('model');
    const prev = await failure(client.responses.create({ model: 'chat', input: 'x', previous_response_id: 'resp_nope' }));
    expect(prev.status).toBe(404);
    expect(prev.param).toBe('previous_response_id');
    expect(primary.chatRequests()).toHaveLength(0);
  });

  it('GET returns a stored response, DELETE removes it; store: false keeps nothing; other keys see nothing', async () => {
    const r = await client.responses.create({ model: 'chat', input: 'keep me', metadata: { ticket: 't-1' } });
    const got = await client.responses.retrieve(r.id);
    expect(got.id).toBe(r.id);
    expect(got.output_text).toBe('echo: keep me');
    expect(got.metadata).toEqual({ ticket: 't-1' });
    expect((await failure(other.responses.retrieve(r.id))).status).toBe(404);
    expect((await failure(other.responses.delete(r.id))).status).toBe(404);
    const del = await fetch(`${h.baseURL}/responses/${r.id}`, { method: 'DELETE', headers: { authorization: 'Bearer key-a' } });
    expect(await del.json()).toEqual({ id: r.id, object: 'response', deleted: true });
    expect((await failure(client.responses.retrieve(r.id))).status).toBe(404);
    expect((await failure(client.responses.delete(r.id))).status).toBe(404);

    const unstored = await client.responses.create({ model: 'chat', input: 'forget me', store: false });
    expect((unstored as unknown as { store: boolean }).store).toBe(false);
    const e = await failure(client.responses.retrieve(unstored.id));
    expect(e.status).toBe(404);
    expect(e.code).toBe('response_not_found');
    expect((await failure(client.responses.create({ model: 'chat', input: 'x', previous_response_id: unstored.id }))).status).toBe(404);
  });
});
