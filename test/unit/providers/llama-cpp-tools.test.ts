/**
 * Tool calling in the llama-cpp provider. The tiny model cannot call functions, so the registry
 * keeps tools off by default; an entry with `tools: true` gets node-llama-cpp function calling.
 * The mapping of worker tool calls to the router's schema is checked with a fake worker.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatChunk } from '../../../src/core/chat-response.js';
import { collect, createLlamaEnv, llamaRequest, noSignal, type LlamaEnv } from '../../fixtures/llama-env.js';

let env: LlamaEnv;
const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Get the weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
const tooly = { provider: 'local', model: 'tooly' };

beforeAll(async () => {
  env = await createLlamaEnv();
  await env.writeRegistry({ tiny: { file: 'tiny.gguf' }, tooly: { file: 'tiny.gguf', tools: true } });
});

afterAll(async () => {
  await env.cleanup();
});

describe('llama-cpp provider: tools', () => {
  it('advertises tools only for registry entries that enable them', () => {
    const provider = env.provider();
    expect(provider.capabilities('tiny').tools).toBe(false);
    expect(provider.capabilities('tooly').tools).toBe(true);
  });

  it('runs node-llama-cpp function calling for a tools-enabled model: function docs enter the prompt', async () => {
    const provider = env.provider();
    const plain = await provider.chat(llamaRequest({ messages: [{ role: 'user', content: 'What is the weather in Oslo?' }] }), tooly, { signal: noSignal() });
    const withTools = await provider.chat(llamaRequest({ tools, messages: [{ role: 'user', content: 'What is the weather in Oslo?' }] }), tooly, { signal: noSignal() });
    expect(withTools.usage!.promptTokens).toBeGreaterThan(plain.usage!.promptTokens + 20);
    // The tiny model answers in text; a real model may call the function instead.
    expect(['stop', 'tool_calls']).toContain(withTools.choices[0]!.finishReason);
  });

  it('maps worker tool calls to toolCalls with ids, in chat and in stream', async () => {
    const workerPath = fileURLToPath(new URL('../../fixtures/llama-fake-worker.ts', import.meta.url));
    const provider = env.provider({}, { workerPath });
    const req = llamaRequest({ tools, messages: [{ role: 'user', content: 'Weather in Oslo?' }] });
    const res = await provider.chat(req, tooly, { signal: noSignal() });
    const choice = res.choices[0]!;
    expect(choice.finishReason).toBe('tool_calls');
    expect(choice.message.content).toBe('Let me check.');
    expect(choice.message.toolCalls).toEqual([{ id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }]);
    expect(res.usage).toEqual({ promptTokens: 11, completionTokens: 7, totalTokens: 18 });

    const chunks = await collect((await provider.stream(req, tooly, { signal: noSignal() })).chunks);
    expect(chunks.map((c) => c.type)).toEqual(['delta', 'delta', 'delta', 'finish', 'usage']);
    const call = chunks[2] as Extract<ChatChunk, { type: 'delta' }>;
    expect(call.toolCalls).toEqual([{ index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }]);
    expect(chunks[3]).toEqual({ type: 'finish', index: 0, finish: 'tool_calls' });
  });
});
