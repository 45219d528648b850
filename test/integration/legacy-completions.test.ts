import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

type SentBody = { messages: Array<{ role: string; content: unknown }>; [k: string]: unknown };

/** Legacy completions (/v1/completions) over the router's chat path, through the real app and the official openai SDK. */
describe('legacy completions through the official openai SDK', () => {
  let primary: FakeUpstream;
  let azure: FakeUpstream;
  let h: RouterHarness;
  let client: OpenAI;

  beforeAll(async () => {
    primary = await startFakeUpstream();
    azure = await startFakeUpstream();
    h = await startRouter(`
auth: { keys: [key-a] }
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

  const sent = (up: FakeUpstream = primary) => up.chatRequests().map((r) => r.body as SentBody);

  async function failure(p: Promise<unknown>): Promise<APIError> {
    try {
      await p;
    } catch (e) {
      if (e instanceof APIError) return e;
      throw e;
    }
    throw new Error('the call succeeded');
  }

  it('answers a text_completion: the prompt as one user message, usage, the router headers', async () => {
    const { data, response } = await client.completions.create({ model: 'chat', prompt: 'Say this is a test', max_tokens: 7, temperature: 0, stop: ['\n'], seed: 1, user: 'u1' }).withResponse();
    expect(data).toMatchObject({ object: 'text_completion', model: 'gpt-4o-mini', choices: [{ text: 'echo: Say this is a test', index: 0, logprobs: null, finish_reason: 'stop' }] });
    expect(data.id).toMatch(/^cmpl-/);
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(data.usage?.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
    expect(response.headers.get('x-router-provider')).toBe('primary');
    expect(sent()[0]).toMatchObject({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say this is a test' }], max_tokens: 7, temperature: 0, stop: ['\n'], seed: 1, user: 'u1' });
  });

  it('an array of prompts: one chat request each, choices per prompt in order, usage summed; echo prepends the prompt', async () => {
    const r = await client.completions.create({ model: 'chat', prompt: ['first', 'second', 'third'], n: 2, echo: true });
    expect(r.choices.map((c) => [c.index, c.text])).toEqual([
      [0, 'firstecho: first'],
      [1, 'firstecho: first'],
      [2, 'secondecho: second'],
      [3, 'secondecho: second'],
      [4, 'thirdecho: third'],
      [5, 'thirdecho: third'],
    ]);
    const bodies = sent();
    expect(bodies).toHaveLength(3);
    expect(bodies.every((b) => b.n === 2)).toBe(true);
    const single = await client.completions.create({ model: 'chat', prompt: 'first' });
    expect(r.usage!.prompt_tokens).toBe(3 * single.usage!.prompt_tokens);
  });

  it('streams text_completion chunks then [DONE], with usage when asked', async () => {
    const stream = await client.completions.create({ model: 'chat', prompt: 'stream this now', stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      expect(c.object).toBe('text_completion');
      text += c.choices[0]?.text ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      if (c.usage) usage = c.usage;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text).toBe('echo: stream this now');
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('streams several prompts in turn, indexes offset per prompt', async () => {
    const stream = await client.completions.create({ model: 'chat', prompt: ['a', 'b'], stream: true });
    const texts: Record<number, string> = {};
    for await (const c of stream) for (const ch of c.choices) texts[ch.index] = (texts[ch.index] ?? '') + ch.text;
    expect(texts).toEqual({ 0: 'echo: a', 1: 'echo: b' });
  });

  it('falls back to the secondary when the primary is down, JSON and streamed', async () => {
    primary.script({ status: 500 });
    const { data, response } = await client.completions.create({ model: 'chat', prompt: 'hi' }).withResponse();
    expect(data.choices[0]!.text).toBe('echo: hi');
    expect(data.usage?.total_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-router-provider')).toBe('azure');
    expect(response.headers.get('x-router-fallback')).toBe('primary/gpt-4o-mini:server');

    primary.script({ status: 502 });
    const { data: stream, response: sres } = await client.completions.create({ model: 'chat', prompt: 'hi there', stream: true }).withResponse();
    let text = '';
    for await (const c of stream) text += c.choices[0]?.text ?? '';
    expect(text).toBe('echo: hi there');
    expect(sres.headers.get('x-router-provider')).toBe('azure');
  });

  it('an upstream error keeps its status and OpenAI shape; in a stream it is an error event', async () => {
    primary.script({ status: 400 });
    const e = await failure(client.completions.create({ model: 'primary-only', prompt: 'x' }));
    expect(e.status).toBe(400);
    expect(e.param).toBe('temperature');

    primary.script({ cutAfterChunks: 3 });
    const stream = await client.completions.create({ model: 'primary-only', prompt: 'a b c d e f', stream: true });
    const broke = await failure(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    );
    expect(broke.message).toMatch(/interrupted/i);
  });

  it('refuses what chat models cannot do, naming the field', async () => {
    for (const [body, param] of [
      [{ prompt: [1, 2, 3] }, 'prompt'],
      [{ prompt: 'x', logprobs: 2 }, 'logprobs'],
      [{ prompt: 'x', suffix: 'end' }, 'suffix'],
      [{ prompt: 'x', best_of: 2 }, 'best_of'],
      [{ prompt: 'x', nonsense: true }, 'nonsense'],
      [{ prompt: 'x', temperature: 9 }, 'temperature'],
    ] as const) {
      const e = await failure(client.completions.create({ model: 'chat', ...(body as unknown as { prompt: string }) }));
      expect(e.status, JSON.stringify(body)).toBe(400);
      expect(e.param, JSON.stringify(body)).toBe(param);
    }
    const model = await failure(client.completions.create({ model: 'no-such-route', prompt: 'x' }));
    expect(model.status).toBe(404);
    expect(primary.chatRequests()).toHaveLength(0);
  });
});
