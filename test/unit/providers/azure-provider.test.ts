import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { azureOptionsSchema } from '../../../providers/azure-openai/options.js';
import type { ChatChunk } from '../../../src/core/chat-response.js';
import { ProviderError } from '../../../src/core/provider-error.js';
import type { Provider } from '../../../src/core/provider.js';
import { parseChatRequest } from '../../../src/wire/parse-chat-request.js';
import { createAzureOpenAIProvider } from '../../../providers/azure-openai/index.js';
import { startFakeUpstream, type FakeUpstream } from '../../fixtures/fake-upstream.js';

const logger = pino({ level: 'silent' });
const meta = { requestId: 'req-az', receivedAt: 0 };
const target = { provider: 'az', model: 'gpt-4o-mini' };
const AZ_KEY = '0123456789abcdef0123456789abcdef';

function request(extra: Record<string, unknown> = {}) {
  return parseChatRequest({ model: 'chat', messages: [{ role: 'user', content: 'hello azure' }], ...extra }, meta);
}

const signal = () => new AbortController().signal;

async function collect(chunks: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

let up: FakeUpstream;

function provider(cfg: Record<string, unknown> = {}): Provider {
  const config = azureOptionsSchema.parse({
    kind: 'azure-openai',
    endpoint: `${up.url}/`,
    apiKey: AZ_KEY,
    apiVersion: '2024-10-21',
    deployments: { 'gpt-4o-mini': 'chat-mini' },
    timeoutMs: 2_000,
    ...cfg,
  });
  return createAzureOpenAIProvider('az', config, { logger, baseDir: '.' });
}

beforeAll(async () => {
  up = await startFakeUpstream();
});
afterAll(async () => {
  await up.close();
});
beforeEach(() => up.reset());

describe('azure provider: where it calls', () => {
  it('posts to the deployment path with api-version and the api-key header', async () => {
    const res = await provider().chat(request(), target, { signal: signal() });
    const sent = up.chatRequests()[0]!;
    expect(sent.path).toBe('/openai/deployments/chat-mini/chat/completions');
    expect(sent.query).toEqual({ 'api-version': '2024-10-21' });
    expect(sent.headers['api-key']).toBe(AZ_KEY);
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.body).toMatchObject({ model: 'chat-mini', messages: [{ role: 'user', content: 'hello azure' }] });
    expect(res.choices[0]!.message.content).toBe('echo: hello azure');
  });

  it('a model without a configured deployment uses its own name as the deployment', async () => {
    await provider().chat(request(), { provider: 'az', model: 'gpt-4.1' }, { signal: signal() });
    expect(up.chatRequests()[0]!.path).toBe('/openai/deployments/gpt-4.1/chat/completions');
  });

  it('an Entra ID token goes as a bearer token instead of api-key', async () => {
    await provider({ apiKey: undefined, adToken: 'eyJ0eXAiOiJKV1QiLCJhbGciOi' }).chat(request(), target, { signal: signal() });
    const sent = up.chatRequests()[0]!;
    expect(sent.headers.authorization).toBe('Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi');
    expect(sent.headers['api-key']).toBeUndefined();
  });

  it('ignores OPENAI_BASE_URL and AZURE_OPENAI_API_KEY meant for other tools on the host', async () => {
    const saved = { base: process.env.OPENAI_BASE_URL, key: process.env.AZURE_OPENAI_API_KEY };
    process.env.OPENAI_BASE_URL = 'http://127.0.0.1:9/v1';
    process.env.AZURE_OPENAI_API_KEY = 'env-key-should-not-be-used';
    try {
      await provider({ apiKey: undefined, adToken: 'token-123456' }).chat(request(), target, { signal: signal() });
      expect(up.chatRequests()[0]!.headers).toMatchObject({ authorization: 'Bearer token-123456' });
      expect(up.chatRequests()[0]!.headers['api-key']).toBeUndefined();
    } finally {
      for (const [name, value] of [['OPENAI_BASE_URL', saved.base], ['AZURE_OPENAI_API_KEY', saved.key]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('health probes GET /openai/models with the api-version', async () => {
    expect(await provider().health()).toMatchObject({ ok: true });
    expect(up.requests.at(-1)).toMatchObject({ method: 'GET', path: '/openai/models', query: { 'api-version': '2024-10-21' } });
    up.script({ on: 'models', status: 401, body: { error: { code: '401', message: 'Access denied due to invalid subscription key or wrong API endpoint.' } } });
    expect(await provider().health()).toMatchObject({ ok: false, kind: 'auth' });
  });
});

describe('azure provider: content filtering', () => {
  it('chat: filter results on the choice and the prompt are kept', async () => {
    const res = await provider().chat(request(), target, { signal: signal() });
    expect(res.promptFilterResults?.[0]).toMatchObject({ prompt_index: 0, content_filter_results: { hate: { filtered: false } } });
    expect(res.choices[0]!.contentFilterResults).toMatchObject({ violence: { filtered: false, severity: 'safe' } });
  });

  it('chat: content_filter finish reason with the results that caused it', async () => {
    up.script({ contentFilter: true });
    const res = await provider().chat(request(), target, { signal: signal() });
    expect(res.choices[0]!.finishReason).toBe('content_filter');
    expect(res.choices[0]!.contentFilterResults).toMatchObject({ violence: { filtered: true, severity: 'high' } });
  });

  it('stream: the opening event with no choices and no model is absorbed; model, id and prompt filter results survive', async () => {
    const s = await provider().stream(request({ stream: true }), target, { signal: signal() });
    expect(s).toMatchObject({ id: 'chatcmpl-fake', model: 'chat-mini' });
    expect((s as { promptFilterResults?: unknown[] }).promptFilterResults).toEqual([
      expect.objectContaining({ prompt_index: 0 }),
    ]);
    const chunks = await collect(s.chunks);
    expect(chunks.map((c) => (c.type === 'delta' ? c.text : '')).join('')).toBe('echo: hello azure');
    expect(chunks.find((c) => c.type === 'finish')).toMatchObject({ finish: 'stop', contentFilterResults: { hate: { filtered: false } } });
  });

  it('stream: content_filter finish reason with filter results', async () => {
    up.script({ contentFilter: true });
    const s = await provider().stream(request({ stream: true }), target, { signal: signal() });
    const finish = (await collect(s.chunks)).find((c) => c.type === 'finish');
    expect(finish).toEqual({ type: 'finish', index: 0, finish: 'content_filter', contentFilterResults: expect.objectContaining({ violence: { filtered: true, severity: 'high' } }) });
  });
});

describe('azure provider: failures use the shared classifier', () => {
  it('429 → rate_limit with retry-after, the key never in the message', async () => {
    up.script({ status: 429, headers: { 'retry-after': '7' }, body: { error: { code: '429', message: `Requests to ChatCompletions for key ${AZ_KEY} have exceeded the rate limit.` } } });
    const err = await provider().chat(request(), target, { signal: signal() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ kind: 'rate_limit', retryAfterMs: 7000, provider: 'az' });
    expect((err as Error).message).not.toContain(AZ_KEY);
  });

  it('a cut stream throws network from the iterator', async () => {
    up.script({ cutAfterChunks: 3 });
    const s = await provider().stream(request({ stream: true }), target, { signal: signal() });
    await expect(collect(s.chunks)).rejects.toMatchObject({ kind: 'network' });
  });
});
