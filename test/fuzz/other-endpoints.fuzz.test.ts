/**
 * The endpoints beside chat (Responses, completions, embeddings, jobs, sessions, stream resume)
 * against hostile bodies and headers: never a 5xx, always OpenAI error JSON, and the router
 * still answers afterwards. FUZZ_RUNS / FUZZ_SEED as for the chat fuzz suite.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';
import { bodyText, chatBody, headerSet, trickyNames } from './hostile-arbitraries.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const params = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }), interruptAfterTimeLimit: RUNS <= 500 ? 60_000 : undefined };

const anyJson = fc.jsonValue({ maxDepth: 3 });
const odd = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.double(), fc.constant(null), anyJson);
const inputItem = fc.record(
  { type: fc.oneof(fc.constantFrom('message', 'function_call', 'function_call_output', 'reasoning', 'x'), odd), role: fc.oneof(fc.constantFrom('user', 'assistant', 'system', 'developer', 'tool'), odd), content: fc.oneof(fc.string({ maxLength: 20 }), fc.array(fc.record({ type: fc.constantFrom('input_text', 'input_image', 'output_text', 'bad'), text: odd, image_url: odd, file_id: odd }, { requiredKeys: [] }), { maxLength: 3 }), odd), call_id: odd, name: odd, arguments: odd, output: odd },
  { requiredKeys: [] },
);
const responsesBody = fc.record(
  { model: fc.oneof(fc.constantFrom('chat', 'vectors'), trickyNames, odd), input: fc.oneof(fc.string({ maxLength: 40 }), fc.array(inputItem, { maxLength: 4 }), odd), instructions: odd, tools: fc.oneof(fc.array(fc.record({ type: fc.oneof(fc.constantFrom('function', 'web_search'), odd), name: odd, parameters: anyJson }, { requiredKeys: [] }), { maxLength: 2 }), odd), tool_choice: odd, text: fc.oneof(fc.record({ format: fc.oneof(fc.record({ type: fc.constantFrom('text', 'json_object', 'json_schema'), schema: anyJson, name: odd }, { requiredKeys: [] }), odd) }), odd), max_output_tokens: odd, temperature: odd, stream: fc.oneof(fc.boolean(), odd), store: fc.oneof(fc.boolean(), odd), previous_response_id: fc.oneof(fc.constantFrom('resp_nope', '__proto__', ''), odd), metadata: odd, extra_field: odd },
  { requiredKeys: [] },
);
const completionsBody = fc.record(
  { model: fc.oneof(fc.constant('chat'), trickyNames, odd), prompt: fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.integer()), { maxLength: 20 }), odd), max_tokens: odd, n: odd, stop: odd, stream: fc.oneof(fc.boolean(), odd), echo: odd, logprobs: odd, suffix: odd, best_of: odd },
  { requiredKeys: [] },
);
const embeddingsBody = fc.record(
  { model: fc.oneof(fc.constantFrom('vectors', 'chat'), trickyNames, odd), input: fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.array(fc.integer(), { maxLength: 5 })), { maxLength: 10 }), odd), dimensions: odd, encoding_format: fc.oneof(fc.constantFrom('float', 'base64', 'hex'), odd), user: odd },
  { requiredKeys: [] },
);
const asText = (a: fc.Arbitrary<unknown>) => fc.oneof({ weight: 5, arbitrary: a.map((b) => JSON.stringify(b)) }, { weight: 1, arbitrary: bodyText });

describe('hostile input on the other endpoints', () => {
  let up: FakeUpstream;
  let h: RouterHarness;

  beforeAll(async () => {
    up = await startFakeUpstream();
    h = await startRouter(`
providers:
  up: { kind: openai, apiKeys: [sk-fuzz], baseURL: "${up.url}/v1", timeoutMs: 3000 }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }], cache: { ttlMs: 60000 } }
  vectors: { kind: embeddings, targets: [{ provider: up, model: text-embedding-3-small }] }
`);
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
  });

  async function send(method: string, path: string, body: string | undefined, headers: Record<string, string>) {
    const res = await fetch(`${h.url}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    expect(res.status, `${method} ${path} ${body?.slice(0, 300)} → ${text.slice(0, 300)}`).toBeLessThan(500);
    if (res.status >= 400 && res.status !== 404) {
      const parsed = JSON.parse(text) as { error?: { message?: unknown; type?: unknown } };
      expect(typeof parsed.error?.message).toBe('string');
      expect(typeof parsed.error?.type).toBe('string');
    }
  }

  const safeHeaders = headerSet.map((h) => Object.fromEntries(Object.entries(h).filter(([k]) => !['content-length', 'expect', 'transfer-encoding', 'host', 'connection'].includes(k))));

  it.each([
    ['/v1/responses', asText(responsesBody)],
    ['/v1/completions', asText(completionsBody)],
    ['/v1/embeddings', asText(embeddingsBody)],
    ['/v1/jobs', asText(chatBody)],
    ['/v1/sessions', asText(fc.record({ id: odd }, { requiredKeys: [] }))],
  ] as const)('POST %s: never a 5xx, always OpenAI error JSON', async (path, body) => {
    await fc.assert(fc.asyncProperty(body, safeHeaders, async (b, hd) => send('POST', path, b, hd)), params);
  });

  it('GET and DELETE of hostile ids: never a 5xx', async () => {
    const id = fc.oneof(trickyNames, fc.string({ maxLength: 40 }).map(encodeURIComponent), fc.constantFrom('resp_x', 'job_x', 'strm_x', 'sess_x', '%00', '..%2F..', 'a'.repeat(300)));
    const path = fc.constantFrom('/v1/responses/', '/v1/jobs/', '/v1/sessions/', '/v1/chat/completions/streams/');
    await fc.assert(
      fc.asyncProperty(path, id, fc.constantFrom('GET', 'DELETE'), fc.oneof(fc.constant({}), fc.record({ 'last-event-id': fc.string({ maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s)) })), async (p, i, m, hd) => send(m, `${p}${i}`, undefined, hd)),
      params,
    );
    const ok = await fetch(`${h.url}/healthz`);
    expect(ok.status).toBe(200);
  });
});
