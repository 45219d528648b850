import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/** The content filters and privacy routing on /v1/embeddings inputs. */
describe('content safety on embeddings', () => {
  let cloud: FakeUpstream;
  let onprem: FakeUpstream;
  let h: RouterHarness;
  let client: OpenAI;
  let dir: string;

  beforeAll(async () => {
    cloud = await startFakeUpstream();
    onprem = await startFakeUpstream();
    dir = mkdtempSync(path.join(tmpdir(), 'router-embed-safety-'));
    writeFileSync(path.join(dir, 'blocked.txt'), 'forbiddenword\n');
    h = await startRouter(`
providers:
  cloud: { kind: openai, apiKeys: [sk-c], baseURL: "${cloud.url}/v1" }
  onprem: { kind: openai, apiKeys: [sk-o], baseURL: "${onprem.url}/v1" }
safety:
  lexicons: { blocked: { file: ${dir}/blocked.txt, category: politics } }
  policies:
    strict:
      lexicon: { politics: { input: block } }
      pii: { email: { input: redact }, secrets: { input: block } }
      privacy: { kinds: [cn_id] }
  default: strict
routes:
  vectors:
    kind: embeddings
    targets:
      - { provider: cloud, model: text-embedding-3-small }
      - { provider: onprem, model: text-embedding-3-small, trust: trusted }
    retry: { attempts: 1 }
  cached-vectors:
    kind: embeddings
    targets: [{ provider: cloud, model: text-embedding-3-small }]
    cache: { ttlMs: 60000 }
`);
    client = new OpenAI({ baseURL: h.baseURL, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await cloud?.close();
    await onprem?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    cloud.reset();
    onprem.reset();
  });

  it('blocks a lexicon term or a secret with 400 content_policy_violation, calling no upstream', async () => {
    for (const input of ['about forbiddenword', `key sk-proj-${'Ab3dE5gH7jK9mN1pQ3sT5vX7zB9cD1fG'}`]) {
      const err = (await client.embeddings.create({ model: 'vectors', input: ['fine', input] }).catch((e: unknown) => e)) as APIError;
      expect(err.status).toBe(400);
      expect(err.code).toBe('content_policy_violation');
    }
    expect(cloud.requests.length + onprem.requests.length).toBe(0);
  });

  it('redacts before the text leaves, and keeps a resident ID off the cloud', async () => {
    await client.embeddings.create({ model: 'vectors', input: 'mail alice@example.com' });
    const sent = JSON.stringify(cloud.requests.at(-1)!.body);
    expect(sent).not.toContain('alice@example.com');
    const { response } = await client.embeddings.create({ model: 'vectors', input: ['id 11010519491231002X'] }).withResponse();
    expect(response.headers.get('x-router-provider')).toBe('onprem');
    expect(response.headers.get('x-router-privacy')).toContain('cn_id');
    expect(cloud.requests.filter((r) => JSON.stringify(r.body).includes('11010519491231002X'))).toHaveLength(0);
  });

  it('answers a repeated request from the cache at no cost, vectors identical; no-cache bypasses', async () => {
    const ask = (headers?: Record<string, string>) => client.embeddings.create({ model: 'cached-vectors', input: ['cache me', 'and me'], encoding_format: 'float' }, headers ? { headers } : {}).withResponse();
    const first = await ask();
    expect(first.response.headers.get('x-router-cache')).toBe('miss');
    const second = await ask();
    expect(second.response.headers.get('x-router-cache')).toBe('hit');
    expect(second.response.headers.get('x-router-cost-usd')).toBe('0');
    expect(second.data.data.map((d) => d.embedding)).toEqual(first.data.data.map((d) => d.embedding));
    expect(cloud.embeddingRequests()).toHaveLength(1);
    const bypass = await ask({ 'cache-control': 'no-cache' });
    expect(bypass.response.headers.get('x-router-cache')).toBe('bypass');
    expect(cloud.embeddingRequests()).toHaveLength(2);
  });
});
