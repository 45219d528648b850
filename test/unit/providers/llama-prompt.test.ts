/** Pure parts of the llama-cpp provider: prompt adaptation, history compaction, JSON landing, stream channel. */
import { describe, expect, it } from 'vitest';
import { compactHistory } from '../../../providers/llama-cpp/compaction.js';
import { landingTokens, minimalJsonLength } from '../../../providers/llama-cpp/json-landing.js';
import { adaptTurns, buildGenerateRequest, DEFAULT_SAMPLING } from '../../../providers/llama-cpp/prompt.js';
import type { WorkerTurn } from '../../../providers/llama-cpp/protocol.js';
import type { RegistryEntry } from '../../../providers/llama-cpp/registry.js';
import { StreamChannel } from '../../../providers/llama-cpp/stream-channel.js';
import { llamaRequest } from '../../fixtures/llama-env.js';

const entry: RegistryEntry = { id: 'tiny', file: 'tiny.gguf', path: '/m/tiny.gguf', contextSize: 2048, threads: 1, parallel: 1, tools: false };

describe('prompt adaptation', () => {
  it('maps roles and renders tool calls and results as text', () => {
    const turns = adaptTurns(
      [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image_url', image_url: { url: 'x' } }] },
        { role: 'assistant', content: null, toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
        { role: 'tool', content: 'sunny', toolCallId: 'call_1' },
        { role: 'function', name: 'legacy', content: '42' },
      ],
      {},
    );
    expect(turns).toEqual([
      { role: 'system', text: 'Be brief.' },
      { role: 'user', text: 'Weather?' },
      { role: 'assistant', text: '[called weather({"city":"Oslo"}) as call_1]' },
      { role: 'user', text: '[result of tool call call_1]\nsunny' },
      { role: 'user', text: '[result of function legacy]\n42' },
    ]);
  });

  it('replaces system messages with systemPrompt, or prefixes the first with systemPromptPrefix', () => {
    const messages = [
      { role: 'system' as const, content: 'App rules.' },
      { role: 'user' as const, content: 'Hi' },
    ];
    expect(adaptTurns(messages, { systemPrompt: 'Local rules.' })).toEqual([
      { role: 'system', text: 'Local rules.' },
      { role: 'user', text: 'Hi' },
    ]);
    expect(adaptTurns(messages, { systemPromptPrefix: 'Answer briefly.' })[0]).toEqual({ role: 'system', text: 'Answer briefly.\n\nApp rules.' });
    expect(adaptTurns([{ role: 'user', content: 'Hi' }], { systemPromptPrefix: 'P' })[0]).toEqual({ role: 'system', text: 'P' });
  });

  it('builds sampling params: caps max_tokens, keeps explicit sampling, maps response formats', () => {
    const plain = buildGenerateRequest('local', llamaRequest({ temperature: undefined }), {}, entry).params;
    expect(plain).toMatchObject({ temperature: DEFAULT_SAMPLING.temperature, topK: 40, topP: 0.95, minP: 0.05 });
    const capped = buildGenerateRequest('local', llamaRequest({ max_tokens: 500, top_p: 0.5, stop: 'END', seed: 3 }), { maxTokensCap: 100 }, entry).params;
    expect(capped).toMatchObject({ maxTokens: 100, temperature: 0, topP: 0.5, topK: 0, minP: 0, stop: ['END'], seed: 3 });
    expect(buildGenerateRequest('local', llamaRequest(), { maxTokensCap: 64 }, entry).params.maxTokens).toBe(64);
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    expect(buildGenerateRequest('local', llamaRequest({ response_format: { type: 'json_schema', json_schema: { name: 'a', schema } } }), {}, entry).params.format).toEqual({ type: 'json_schema', schema });
    expect(buildGenerateRequest('local', llamaRequest({ response_format: { type: 'json_object' } }), {}, entry).params.format).toEqual({ type: 'json_object' });
  });

  it('passes tools only to a model whose registry entry enables them', () => {
    const tools = [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' } } }];
    expect(() => buildGenerateRequest('local', llamaRequest({ tools }), {}, entry)).toThrow(/does not support tools/);
    expect(buildGenerateRequest('local', llamaRequest({ tools, tool_choice: 'none' }), {}, entry).params.tools).toBeUndefined();
    expect(buildGenerateRequest('local', llamaRequest({ tools }), {}, { ...entry, tools: true }).params.tools).toEqual([{ name: 'f', description: 'd', parameters: { type: 'object' } }]);
  });
});

describe('history compaction', () => {
  const turns: WorkerTurn[] = [
    { role: 'system', text: 'sys' },
    { role: 'user', text: 'u1' },
    { role: 'assistant', text: 'a1' },
    { role: 'user', text: 'u2' },
    { role: 'assistant', text: 'a2' },
    { role: 'user', text: 'u3' },
  ];
  // 10 tokens per turn.
  const count = (ts: WorkerTurn[]): number => ts.length * 10;

  it('keeps everything that fits', () => {
    expect(compactHistory(turns, 60, count)).toEqual({ turns, dropped: 0, promptTokens: 60 });
  });

  it('drops the oldest non-system turns, and never starts the kept history on an assistant turn', () => {
    const fit = compactHistory(turns, 45, count);
    expect(fit.turns.map((t) => t.text)).toEqual(['sys', 'u2', 'a2', 'u3']);
    expect(fit.dropped).toBe(2);
    expect(fit.promptTokens).toBe(40);
    expect(compactHistory(turns, 35, count).turns.map((t) => t.text)).toEqual(['sys', 'u3']);
  });

  it('keeps system turns and the newest turn even when they alone do not fit', () => {
    const fit = compactHistory(turns, 5, count);
    expect(fit.turns.map((t) => t.text)).toEqual(['sys', 'u3']);
    expect(fit.promptTokens).toBe(20);
  });
});

describe('JSON landing', () => {
  it('sizes the smallest instance of a schema', () => {
    expect(minimalJsonLength({ type: 'string' })).toBe(2);
    const schema = { type: 'object', properties: { name: { type: 'string' }, tags: { type: 'array', items: { type: 'string' }, minItems: 1 } } };
    expect(minimalJsonLength(schema)).toBeGreaterThanOrEqual(JSON.stringify({ name: '', tags: [''] }).length);
    const recursive = { $defs: { node: { type: 'object', properties: { next: { $ref: '#/$defs/node' } } } }, $ref: '#/$defs/node' };
    expect(Number.isFinite(minimalJsonLength(recursive))).toBe(true);
  });

  it('starts closing earlier for bigger budgets and bigger schemas', () => {
    expect(landingTokens(100)).toBe(25);
    expect(landingTokens(10_000)).toBe(64);
    expect(landingTokens(100, { type: 'object', properties: { a: { type: 'string' } } })).toBeGreaterThan(25);
  });
});

describe('StreamChannel', () => {
  it('delivers pushed items in order, then ends or fails; early return cancels', async () => {
    const ch = new StreamChannel<number>();
    ch.push(1);
    setTimeout(() => {
      ch.push(2);
      ch.end();
    }, 5);
    const seen: number[] = [];
    for await (const n of ch) seen.push(n);
    expect(seen).toEqual([1, 2]);

    const failing = new StreamChannel<number>();
    failing.push(1);
    failing.fail(new Error('boom'));
    const it = failing[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ value: 1, done: false });
    await expect(it.next()).rejects.toThrow('boom');

    let cancelled = 0;
    const cancellable = new StreamChannel<number>(() => cancelled++);
    cancellable.push(1);
    for await (const _ of cancellable) break;
    expect(cancelled).toBe(1);
  });
});
