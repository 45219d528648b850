import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import OpenAI, { APIError } from 'openai';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { costNanos } from '../../src/accounting/cost.js';
import { ConfigError, parseConfig } from '../../src/config/load-config.js';
import { clientAuth } from '../../src/edge/client-auth.js';
import { mountEmbeddings } from '../../src/edge/embeddings-handler.js';
import { formatUsd } from '../../src/policies/request-meter.js';
import type { UsageRecord } from '../../src/state/types.js';
import { base64ToFloat32 } from '../../src/wire/embeddings/vector-encoding.js';
import { fakeEmbedding } from '../fixtures/fake-upstream-behaviours.js';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

const LIMITED = 'limited-key-0123456789abcdef';
const CHAT_ONLY = 'chat-only-key-0123456789abcdef';

/**
 * POST /v1/embeddings through the real app (real adapters, the real local model) driven by the
 * official SDK, in front of fake OpenAI and Azure upstreams. Until src/edge/app.ts mounts the
 * endpoint, the suite mounts it itself, with the router's own dispatcher, meter and client
 * auth, in front of the same server.
 */
describe('POST /v1/embeddings through the official openai SDK', () => {
  let primary: FakeUpstream;
  let azure: FakeUpstream;
  let h: RouterHarness;
  let side: http.Server | undefined;
  let baseURL: string;
  const sdk = (apiKey = 'app-key') => new OpenAI({ baseURL, apiKey, maxRetries: 0 });
  let client: OpenAI;
  const post = (body: unknown, key = 'app-key') => fetch(`${baseURL}/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as APIError);
  const usageOf = async (route: string): Promise<UsageRecord[]> => {
    const state = h.server.policies.state()!;
    await state.usage.flush();
    const out: UsageRecord[] = [];
    for await (const r of state.usage.query({ route })) out.push(r);
    return out;
  };
  const fake = (input: unknown, dims = 1536) => Array.from(fakeEmbedding(input, 'text-embedding-3-small', dims));

  beforeAll(async () => {
    primary = await startFakeUpstream();
    azure = await startFakeUpstream();
    h = await startRouter(
      `
auth:
  keys: [app-key]
  keySecret: "a-server-secret-for-hashing-keys-000111222"
  virtualKeys:
    - { id: limited, name: Limited, secret: "${LIMITED}", routes: [embed], limits: { rpm: 1 } }
    - { id: tokens, name: Tokens, secret: "tokens-key-0123456789abcdef", routes: [embed], limits: { tpm: 20 } }
    - { id: chat-only, name: Chat only, secret: "${CHAT_ONLY}", routes: [chat] }
providers:
  primary: { kind: openai, apiKeys: [sk-primary], baseURL: "${primary.url}/v1", timeoutMs: 2000 }
  azure:   { kind: azure-openai, endpoint: "${azure.url}", apiKey: az-key, deployments: { text-embedding-3-small: text-embedding-3-small-eu } }
  local:   { kind: llama-cpp, model: tiny, timeoutMs: 30000 }
routes:
  embed:
    kind: embeddings
    targets:
      - { provider: primary, model: text-embedding-3-small }
      - { provider: azure, model: text-embedding-3-small }
    retry: { attempts: 1 }
    # The primary fails on purpose, call after call: its breaker is not this suite's subject.
    breaker: { minRequests: 1000 }
  local-embed:
    kind: embeddings
    targets: [{ provider: local, model: tiny }]
  chat:
    targets: [{ provider: primary, model: gpt-4o-mini }]
`,
    );
    await h.synced();
    const probe = await fetch(`${h.baseURL}/embeddings`, { method: 'POST', headers: { authorization: 'Bearer app-key', 'content-type': 'application/json' }, body: '{}' });
    const mounted = !(probe.status === 404 && ((await probe.json()) as { error: { code: string } }).error.code === 'unknown_url');
    if (mounted) {
      baseURL = h.baseURL;
    } else {
      const app = express();
      app.use((_req, res, next) => {
        res.locals.receivedAt = performance.now();
        res.locals.requestId = randomUUID();
        next();
      });
      const v1 = express.Router();
      v1.use(clientAuth({ authenticator: () => h.server.policies.authenticator(), open: () => h.server.policies.open() }));
      const routes = () => h.server.runtime.config().routes;
      mountEmbeddings(v1, {
        dispatcher: () => h.server.runtime.dispatcher(),
        routes: (name) => (Object.hasOwn(routes(), name) ? routes()[name] : undefined),
        meter: h.server.policies.meter,
        metrics: h.metrics,
        logger: pino({ level: 'silent' }),
        maxDepth: () => h.server.runtime.config().server.limits.maxDepth,
      });
      app.use('/v1', v1);
      side = http.createServer(app);
      await new Promise<void>((r) => side!.listen(0, '127.0.0.1', r));
      baseURL = `http://127.0.0.1:${(side.address() as AddressInfo).port}/v1`;
    }
    client = sdk();
  });
  afterAll(async () => {
    if (side) await new Promise((r) => side!.close(r));
    await h?.close();
    await primary?.close();
    await azure?.close();
  });
  beforeEach(() => {
    primary.reset();
    azure.reset();
  });

  it('embeds through the primary, with usage, cost and what the upstream was sent', async () => {
    const { data, response } = await client.embeddings.create({ model: 'embed', input: ['hello world', 'good night moon'], user: 'u-1' }).withResponse();
    expect(data.object).toBe('list');
    expect(data.model).toBe('text-embedding-3-small');
    expect(data.data.map((d) => d.index)).toEqual([0, 1]);
    // The SDK asked for base64 (its default) and decoded it: exactly the upstream's float32 values.
    expect(data.data[0]!.embedding).toEqual(fake('hello world'));
    expect(data.data[1]!.embedding).toEqual(fake('good night moon'));
    expect(data.usage).toEqual({ prompt_tokens: 5, total_tokens: 5 });
    expect(response.headers.get('x-router-provider')).toBe('primary');
    expect(response.headers.get('x-router-model')).toBe('text-embedding-3-small');
    expect(response.headers.get('x-router-attempts')).toBe('1; targets=1');
    // text-embedding-3-small: $0.02 per 1M tokens (config/prices.yaml).
    expect(response.headers.get('x-router-cost-usd')).toBe(formatUsd(costNanos({ promptTokens: 5, completionTokens: 0, totalTokens: 5 }, { input: 0.02, output: 0 })!));
    const sent = primary.embeddingRequests()[0]!;
    expect(sent.path).toBe('/v1/embeddings');
    expect(sent.headers.authorization).toBe('Bearer sk-primary');
    expect(sent.body).toEqual({ model: 'text-embedding-3-small', input: ['hello world', 'good night moon'], encoding_format: 'base64', user: 'u-1' });
  });

  it('answers float JSON or base64 (little-endian float32) as the app asks', async () => {
    const floats = await client.embeddings.create({ model: 'embed', input: 'hello world', encoding_format: 'float' });
    // JSON numbers of 9 significant digits: read as float32, the upstream's exact values.
    expect(floats.data[0]!.embedding.map(Math.fround)).toEqual(fake('hello world'));
    const raw = await post({ model: 'embed', input: 'hello world', encoding_format: 'base64' });
    const body = (await raw.json()) as { data: Array<{ embedding: string }> };
    expect(typeof body.data[0]!.embedding).toBe('string');
    expect(Array.from(base64ToFloat32(body.data[0]!.embedding))).toEqual(fake('hello world'));
    const viaSdk = await client.embeddings.create({ model: 'embed', input: 'hello world', encoding_format: 'base64' });
    expect(Array.from(base64ToFloat32(viaSdk.data[0]!.embedding as unknown as string))).toEqual(fake('hello world'));
  });

  it('forwards dimensions and token-array inputs', async () => {
    const r = await client.embeddings.create({ model: 'embed', input: [[9906, 1917], [15339]], dimensions: 256 });
    expect(r.data.map((d) => d.embedding.length)).toEqual([256, 256]);
    expect(r.data[0]!.embedding).toEqual(fake([9906, 1917], 256));
    expect(r.usage.prompt_tokens).toBe(3);
    expect(primary.embeddingRequests()[0]!.body).toMatchObject({ input: [[9906, 1917], [15339]], dimensions: 256 });
  });

  it('falls back to the Azure deployment when the primary is down, in the same vector space', async () => {
    await primary.down();
    try {
      const { data, response } = await client.embeddings.create({ model: 'embed', input: 'hello world' }).withResponse();
      expect(response.headers.get('x-router-provider')).toBe('azure');
      expect(response.headers.get('x-router-fallback')).toBe('primary/text-embedding-3-small:network');
      expect(data.data[0]!.embedding).toEqual(fake('hello world'));
      const sent = azure.embeddingRequests()[0]!;
      expect(sent.path).toBe('/openai/deployments/text-embedding-3-small-eu/embeddings');
      expect(sent.query['api-version']).toBeTruthy();
      expect(sent.headers['api-key']).toBe('az-key');
    } finally {
      await primary.up();
    }
    primary.script({ on: 'embeddings', status: 500 });
    const { response } = await client.embeddings.create({ model: 'embed', input: 'again' }).withResponse();
    expect(response.headers.get('x-router-fallback')).toBe('primary/text-embedding-3-small:server');
    const records = await usageOf('embed');
    const last = records.at(-1)!;
    expect(last).toMatchObject({ route: 'embed', provider: 'azure', model: 'text-embedding-3-small', outcome: 'ok', stream: false, fallbacks: ['primary/text-embedding-3-small:server'], tokens: { prompt: 1, completion: 0 } });
    expect(last.costUsd).toBeGreaterThan(0);
  });

  it('answers from the built-in local model offline, normalised, with its own token counts', async () => {
    const { data, response } = await client.embeddings.create({ model: 'local-embed', input: ['the router answers offline', 'the router answers quickly', 'tell me a story'], encoding_format: 'float' }).withResponse();
    expect(response.headers.get('x-router-provider')).toBe('local');
    expect(data.model).toBe('tiny');
    const [a, b, c] = data.data.map((d) => d.embedding) as [number[], number[], number[]];
    expect(data.data.map((d) => d.index)).toEqual([0, 1, 2]);
    for (const v of [a, b, c]) {
      expect(v).toHaveLength(256);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    }
    const dot = (x: number[], y: number[]) => x.reduce((s, xi, i) => s + xi * y[i]!, 0);
    expect(dot(a, b)).toBeGreaterThan(dot(a, c));
    expect(data.usage.prompt_tokens).toBeGreaterThan(9);
    // A local model costs nothing (a real 0, not an unknown price).
    expect(response.headers.get('x-router-cost-usd')).toBe('0');
    const short = await client.embeddings.create({ model: 'local-embed', input: 'the router answers offline', dimensions: 32 });
    expect(short.data[0]!.embedding).toHaveLength(32);
    expect(Math.hypot(...short.data[0]!.embedding)).toBeCloseTo(1, 5);
    const tooMany = await failure(client.embeddings.create({ model: 'local-embed', input: 'x', dimensions: 257 }));
    expect(tooMany).toBeInstanceOf(APIError);
    expect(tooMany).toMatchObject({ status: 400, param: 'dimensions' });
  });

  it('refuses bad input with OpenAI’s error JSON naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ model: 'embed', input: [] }, 'input'],
      [{ model: 'embed', input: ['ok', ''] }, 'input[1]'],
      [{ model: 'embed', input: 'x', encoding_format: 'binary' }, 'encoding_format'],
      [{ model: 'embed', input: 'x', dimensions: -1 }, 'dimensions'],
      [{ model: 'embed', input: 'x', stream: true }, 'stream'],
      [{ input: 'x' }, 'model'],
    ];
    for (const [body, param] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', param } });
    }
    const chat = await failure(client.embeddings.create({ model: 'chat', input: 'x' }));
    expect(chat).toMatchObject({ status: 400, param: 'model' });
    const unknown = await failure(client.embeddings.create({ model: 'nope', input: 'x' }));
    expect(unknown).toMatchObject({ status: 404, code: 'model_not_found' });
    expect(primary.embeddingRequests()).toHaveLength(0);
  });

  it('applies keys’ routes and limits, token limits counting the input', async () => {
    const notAllowed = await failure(sdk(CHAT_ONLY).embeddings.create({ model: 'embed', input: 'x' }));
    expect(notAllowed).toMatchObject({ status: 403, code: 'model_not_allowed' });
    const limited = sdk(LIMITED);
    await limited.embeddings.create({ model: 'embed', input: 'x' });
    const second = await failure(limited.embeddings.create({ model: 'embed', input: 'x' }));
    expect(second).toMatchObject({ status: 429 });
    // 20 tokens a minute: a short input fits, one of ~60 words does not.
    const tokens = sdk('tokens-key-0123456789abcdef');
    await tokens.embeddings.create({ model: 'embed', input: 'short' });
    const long = await failure(tokens.embeddings.create({ model: 'embed', input: 'word '.repeat(60) }));
    expect(long).toMatchObject({ status: 429 });
    expect(long!.message).toMatch(/token/i);
    const records = await usageOf('embed');
    expect(records.filter((r) => r.keyId === 'limited').map((r) => r.outcome)).toEqual(['ok', 'rate_limited']);
  });
});

describe('config check of embeddings routes', () => {
  it('refuses a fallback between targets of different vector sizes unless the route allows it', () => {
    const yaml = (allow: string) => `
providers:
  openai: { kind: openai, apiKey: sk-x }
  local: { kind: llama-cpp, model: tiny }
routes:
  embed:
    kind: embeddings${allow}
    targets:
      - { provider: openai, model: text-embedding-3-small }
      - { provider: local, model: tiny }
`;
    let err: unknown;
    try {
      parseConfig(yaml(''), 'router.yaml', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/routes\.embed\.targets: targets make vectors of different sizes \(openai\/text-embedding-3-small: 1536, local\/tiny: 256\)/);
    expect(parseConfig(yaml('\n    allowMixedDimensions: true'), 'router.yaml', {}).config.routes.embed?.allowMixedDimensions).toBe(true);
  });
});
