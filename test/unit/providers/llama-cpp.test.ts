/**
 * The llama-cpp provider against the real node-llama-cpp and the generated tiny model:
 * generation, streaming, sampling, JSON mode, usage, parallel sequences, abort and queueing.
 * Failure handling (corrupt files, crashed and hung workers) is in llama-cpp-resilience.test.ts.
 */
import { ProviderError } from '../../../src/core/provider-error.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatChunk } from '../../../src/core/chat-response.js';
import type { LlamaCppProvider } from '../../../providers/llama-cpp/index.js';
import { CHATML_TEMPLATE } from '../../../models/gguf/tiny-llama.js';
import { collect, createLlamaEnv, failure, llamaRequest, longRequest, noSignal, textOf, tinyTarget, type LlamaEnv } from '../../fixtures/llama-env.js';

let env: LlamaEnv;
let provider: LlamaCppProvider;

beforeAll(async () => {
  env = await createLlamaEnv();
  await env.writeRegistry({ tiny: { file: 'tiny.gguf', parallel: 4, contextSize: 4096 } });
  provider = env.provider({ queueLimit: 8 });
});

afterAll(async () => {
  await env.cleanup();
});

describe('llama-cpp provider: generation', () => {
  it('answers a chat with text, finish reason and real token usage', async () => {
    const res = await provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() });
    expect(res.model).toBe('tiny');
    expect(res.choices).toHaveLength(1);
    const choice = res.choices[0]!;
    expect(typeof choice.message.content).toBe('string');
    expect((choice.message.content ?? '').length).toBeGreaterThan(0);
    expect(choice.finishReason).toBe('stop');
    expect(res.usage!.promptTokens).toBeGreaterThan(5);
    expect(res.usage!.completionTokens).toBeGreaterThan(0);
    expect(res.usage!.totalTokens).toBe(res.usage!.promptTokens + res.usage!.completionTokens);
    expect(res.notes).toBeUndefined();
  });

  it('streams deltas, then finish, then usage; the text equals the non-streamed answer', async () => {
    const whole = await provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() });
    const stream = await provider.stream(llamaRequest(), tinyTarget, { signal: noSignal() });
    expect(stream.model).toBe('tiny');
    const chunks = await collect(stream.chunks);
    const kinds = chunks.map((c) => c.type);
    expect(kinds.slice(-2)).toEqual(['finish', 'usage']);
    expect(kinds.slice(0, -2).every((k) => k === 'delta')).toBe(true);
    expect(kinds.filter((k) => k === 'delta').length).toBeGreaterThan(1);
    expect(textOf(chunks)).toBe(whole.choices[0]!.message.content);
    const usage = chunks.at(-1) as Extract<ChatChunk, { type: 'usage' }>;
    expect(usage.usage).toEqual(whole.usage);
  });

  it('is deterministic at temperature 0 and with a fixed seed, and leaks nothing between requests', async () => {
    const greeting = llamaRequest();
    const other = llamaRequest({ messages: [{ role: 'user', content: 'What is the weather like?' }] });
    const a = await provider.chat(greeting, tinyTarget, { signal: noSignal() });
    await provider.chat(other, tinyTarget, { signal: noSignal() });
    const b = await provider.chat(greeting, tinyTarget, { signal: noSignal() });
    expect(b.choices[0]!.message.content).toBe(a.choices[0]!.message.content);
    expect(b.usage).toEqual(a.usage);

    const seeded = llamaRequest({ temperature: 1.2, seed: 7, max_tokens: 40 });
    const s1 = await provider.chat(seeded, tinyTarget, { signal: noSignal() });
    const s2 = await provider.chat(seeded, tinyTarget, { signal: noSignal() });
    expect(s2.choices[0]!.message.content).toBe(s1.choices[0]!.message.content);
  });

  it('counts prompt tokens with the model tokenizer: a longer prompt costs more', async () => {
    const short = await provider.chat(llamaRequest({ max_tokens: 1 }), tinyTarget, { signal: noSignal() });
    const long = await provider.chat(
      llamaRequest({ max_tokens: 1, messages: [{ role: 'system', content: 'You are a helpful and friendly assistant.' }, { role: 'user', content: 'Hello, tell me a story.' }] }),
      tinyTarget,
      { signal: noSignal() },
    );
    expect(long.usage!.promptTokens).toBeGreaterThan(short.usage!.promptTokens + 5);
    expect(short.usage!.completionTokens).toBe(1);
  });

  it('stops at max_tokens with finish reason length, and caps max_tokens by maxTokensCap', async () => {
    const res = await provider.chat(llamaRequest({ max_tokens: 5 }), tinyTarget, { signal: noSignal() });
    expect(res.choices[0]!.finishReason).toBe('length');
    expect(res.usage!.completionTokens).toBe(5);

    const capped = env.provider({ maxTokensCap: 3 });
    const c = await capped.chat(llamaRequest({ max_tokens: 50 }), tinyTarget, { signal: noSignal() });
    expect(c.choices[0]!.finishReason).toBe('length');
    expect(c.usage!.completionTokens).toBe(3);
    await capped.close();
  });

  it('honours stop sequences: the answer ends before the stop text', async () => {
    const full = (await provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() })).choices[0]!.message.content ?? '';
    const words = full.split(' ');
    expect(words.length).toBeGreaterThan(4);
    const stopWord = ` ${words[3]}`;
    const res = await provider.chat(llamaRequest({ stop: [stopWord] }), tinyTarget, { signal: noSignal() });
    expect(res.choices[0]!.finishReason).toBe('stop');
    expect(res.choices[0]!.message.content).toBe(full.slice(0, full.indexOf(stopWord)));
  });

  it('returns valid JSON for json_object and for a json_schema, ending inside max_tokens', async () => {
    const obj = await provider.chat(llamaRequest({ max_tokens: 200, response_format: { type: 'json_object' } }), tinyTarget, { signal: noSignal() });
    expect(obj.choices[0]!.finishReason).toBe('stop');
    const parsedObj: unknown = JSON.parse(obj.choices[0]!.message.content ?? '');
    expect(typeof parsedObj).toBe('object');

    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'number' }, tags: { type: 'array', items: { type: 'string' } } },
      required: ['name', 'age', 'tags'],
    };
    for (const maxTokens of [60, 300]) {
      const res = await provider.chat(
        llamaRequest({ max_tokens: maxTokens, response_format: { type: 'json_schema', json_schema: { name: 'person', schema } } }),
        tinyTarget,
        { signal: noSignal() },
      );
      expect(res.choices[0]!.finishReason).toBe('stop');
      expect(res.usage!.completionTokens).toBeLessThanOrEqual(maxTokens);
      const parsed = JSON.parse(res.choices[0]!.message.content ?? '') as { name: unknown; age: unknown; tags: unknown };
      expect(typeof parsed.name).toBe('string');
      expect(typeof parsed.age).toBe('number');
      expect(Array.isArray(parsed.tags)).toBe(true);
    }
  });

  it('serves parallel requests together, each with its own sequence', async () => {
    const expected = (await provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() })).choices[0]!.message.content;
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 4 }, () => provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() })));
    expect(performance.now() - started).toBeLessThan(10_000);
    for (const res of results) expect(res.choices[0]!.message.content).toBe(expected);
  });

  it('reports capabilities and health from the registry and the worker', async () => {
    expect(provider.capabilities('tiny')).toEqual({ tools: false, jsonObject: true, jsonSchema: true, contextLength: 4096, maxChoices: 1, vision: false, compactsHistory: true });
    const health = await provider.health('tiny');
    expect(health).toMatchObject({ ok: true, loaded: true, queueDepth: 0, running: 0, restarts: 0 });
    expect(provider.workerPid('tiny')).toBeGreaterThan(0);
    expect(provider.workerPid('tiny')).not.toBe(process.pid);
  });

  it('rejects what the local model cannot do as invalid_request', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
    expect((await failure(provider.chat(llamaRequest({ tools }), tinyTarget, { signal: noSignal() }))).kind).toBe('invalid_request');
    expect((await failure(provider.chat(llamaRequest({ n: 2 }), tinyTarget, { signal: noSignal() }))).kind).toBe('invalid_request');
    const unknown = await failure(provider.chat(llamaRequest(), { provider: 'local', model: 'nope' }, { signal: noSignal() }));
    expect(unknown.kind).toBe('not_found');
  });
});

describe('llama-cpp provider: prompt adaptation', () => {
  it('compacts a history that does not fit, keeping the system message and the newest turns', async () => {
    await env.writeRegistry({ tiny: { file: 'tiny.gguf', parallel: 4, contextSize: 4096 }, small: { file: 'tiny.gguf', contextSize: 256, parallel: 1 } });
    const messages: Array<{ role: string; content: string }> = [{ role: 'system', content: 'You are helpful.' }];
    for (let i = 0; i < 30; i++) {
      messages.push({ role: 'user', content: `Question number ${i}: tell me about the weather today.` });
      messages.push({ role: 'assistant', content: 'The weather is warm and the air is calm today.' });
    }
    messages.push({ role: 'user', content: 'Hello, tell me a story.' });
    const res = await provider.chat(llamaRequest({ messages, max_tokens: 32 }), { provider: 'local', model: 'small' }, { signal: noSignal() });
    const dropped = Number.parseInt(res.notes?.headers?.['x-router-compacted'] ?? '0', 10);
    expect(dropped).toBeGreaterThan(10);
    expect(res.usage!.promptTokens + 32).toBeLessThanOrEqual(256);

    const stream = await provider.stream(llamaRequest({ messages, max_tokens: 32 }), { provider: 'local', model: 'small' }, { signal: noSignal() });
    expect(stream.notes?.headers?.['x-router-compacted']).toBe(`${dropped} messages`);
    await collect(stream.chunks);

    const huge = llamaRequest({ messages: [{ role: 'user', content: 'weather '.repeat(400) }] });
    expect((await failure(provider.chat(huge, { provider: 'local', model: 'small' }, { signal: noSignal() }))).kind).toBe('invalid_request');
  });
});

describe('llama-cpp provider: chat templates', () => {
  it('uses the GGUF template by default and honours a registry chatTemplate (wrapper name or Jinja)', async () => {
    await env.writeRegistry({
      tiny: { file: 'tiny.gguf', parallel: 4, contextSize: 4096 },
      named: { file: 'tiny.gguf', chatTemplate: 'chatML' },
      jinja: { file: 'tiny.gguf', chatTemplate: CHATML_TEMPLATE },
      general: { file: 'tiny.gguf', chatTemplate: 'general' },
    });
    const answer = async (model: string) => provider.chat(llamaRequest(), { provider: 'local', model }, { signal: noSignal() });
    const auto = await answer('tiny');
    const named = await answer('named');
    expect(named.choices[0]!.message.content).toBe(auto.choices[0]!.message.content);
    expect(named.usage!.promptTokens).toBe(auto.usage!.promptTokens);
    // node-llama-cpp renders a Jinja template itself; whitespace may differ by a token.
    const jinja = await answer('jinja');
    expect(jinja.choices[0]!.message.content).toBe(auto.choices[0]!.message.content);
    expect(Math.abs(jinja.usage!.promptTokens - auto.usage!.promptTokens)).toBeLessThanOrEqual(2);
    // Another wrapper renders another prompt.
    expect((await answer('general')).usage!.promptTokens).not.toBe(auto.usage!.promptTokens);
  });
});

describe('llama-cpp provider: abort and queueing', () => {
  it('aborting mid-stream ends the stream with kind aborted and frees the sequence at once', async () => {
    await env.writeRegistry({ tiny: { file: 'tiny.gguf', parallel: 4, contextSize: 4096 }, solo: { file: 'tiny.gguf', contextSize: 8192, parallel: 1 } });
    const solo = { provider: 'local', model: 'solo' };
    await provider.chat(llamaRequest({ max_tokens: 1 }), solo, { signal: noSignal() }); // load
    const controller = new AbortController();
    const stream = await provider.stream(longRequest(8000), solo, { signal: controller.signal });
    const iterator = stream.chunks[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    controller.abort();
    const err = await failure(
      (async () => {
        for (;;) if ((await iterator.next()).done) return;
      })(),
    );
    expect(err.kind).toBe('aborted');
    // parallel 1: the follow-up only runs once the aborted request gave its sequence back.
    const started = performance.now();
    const next = await provider.chat(llamaRequest(), solo, { signal: noSignal() });
    expect(next.choices[0]!.finishReason).toBe('stop');
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('a consumer that stops iterating aborts the generation too', async () => {
    const solo = { provider: 'local', model: 'solo' };
    const stream = await provider.stream(longRequest(8000), solo, { signal: noSignal() });
    for await (const chunk of stream.chunks) if (chunk.type === 'delta') break;
    const started = performance.now();
    await provider.chat(llamaRequest(), solo, { signal: noSignal() });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('queues up to queueLimit and then fails fast with kind capacity', async () => {
    await env.writeRegistry({ solo: { file: 'tiny.gguf', contextSize: 8192, parallel: 1 } });
    const busy = env.provider({ queueLimit: 1 });
    const solo = { provider: 'local', model: 'solo' };
    const controller = new AbortController();
    const running = await busy.stream(longRequest(8000), solo, { signal: controller.signal });
    // Two more at once: one waits in the queue, the other finds it full (which one is up to
    // their preparation, so neither is assumed).
    const outcomes = [busy.chat(llamaRequest(), solo, { signal: noSignal() }), busy.chat(llamaRequest(), solo, { signal: noSignal() })].map((p) =>
      p.then(
        (ok) => ({ ok }),
        (err: unknown) => ({ err }),
      ),
    );
    const rejected = (await Promise.race(outcomes.map(async (o) => ('err' in (await o) ? ((await o) as { err: unknown }).err : new Promise<never>(() => {}))))) as ProviderError;
    expect(rejected).toBeInstanceOf(ProviderError);
    expect(rejected.kind).toBe('capacity');
    expect(rejected.retryable).toBe(true);
    expect(rejected.retryAfterMs).toBeGreaterThan(0);
    expect(await busy.health('solo')).toMatchObject({ queueDepth: 1, running: 1 });
    controller.abort();
    await collect(running.chunks).catch(() => undefined);
    const settled = await Promise.all(outcomes);
    const served = settled.flatMap((o) => ('ok' in o ? [o.ok] : []));
    expect(served).toHaveLength(1);
    expect(served[0]!.choices[0]!.finishReason).toBe('stop');
    await busy.close();
  });

  it('a request aborted while queued leaves the queue', async () => {
    const busy = env.provider({ queueLimit: 1 });
    const solo = { provider: 'local', model: 'solo' };
    const first = new AbortController();
    const running = await busy.stream(longRequest(8000), solo, { signal: first.signal });
    const second = new AbortController();
    const queued = failure(busy.chat(llamaRequest(), solo, { signal: second.signal }));
    second.abort();
    expect((await queued).kind).toBe('aborted');
    expect(await busy.health('solo')).toMatchObject({ queueDepth: 0 });
    first.abort();
    await collect(running.chunks).catch(() => undefined);
    await busy.close();
  });
});
