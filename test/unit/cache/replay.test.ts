import { describe, expect, it } from 'vitest';

import { replayStream, textPieces } from '../../../src/cache/replay.js';
import type { ChatChunk, ChatResponse } from '../../../src/core/chat-response.js';
import { WireChunkEncoder } from '../../../src/wire/chunk-encoder.js';

const LONG = 'The quick brown fox jumps over the lazy dog. '.repeat(8) + 'Supercalifragilisticexpialidocious'.repeat(3) + ' 😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀 end.';

const answer: ChatResponse = {
  id: 'chatcmpl-1',
  model: 'gpt-4o-mini',
  choices: [
    { index: 0, message: { content: LONG }, finishReason: 'stop', logprobs: { content: [] } },
    {
      index: 1,
      message: {
        content: null,
        toolCalls: [
          { id: 'call_a', type: 'function', function: { name: 'lookup', arguments: JSON.stringify({ city: 'Paris', days: [1, 2, 3], detail: 'a long value '.repeat(5) }) } },
          { id: 'call_b', type: 'function', function: { name: 'noop', arguments: '{}' } },
        ],
      },
      finishReason: 'tool_calls',
    },
    { index: 2, message: { content: null, refusal: 'I am sorry, but I cannot help with that request at all.' }, finishReason: 'content_filter', contentFilterResults: { hate: { filtered: true } } },
  ],
  usage: { promptTokens: 10, completionTokens: 20, totalTokens: 30 },
};

async function collect(res: ChatResponse, includeUsage: boolean): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of replayStream(res, { includeUsage })) out.push(c);
  return out;
}

/** What an SDK accumulating the wire chunks would rebuild. */
function accumulate(wire: Array<Record<string, any>>) {
  const choices = new Map<number, { content: string; refusal: string; role?: string; finish?: string; tools: Array<{ id?: string; name: string; arguments: string }> }>();
  let usage: unknown;
  for (const chunk of wire) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      const acc = choices.get(c.index) ?? { content: '', refusal: '', tools: [] };
      choices.set(c.index, acc);
      if (c.delta.role) acc.role = c.delta.role;
      acc.content += c.delta.content ?? '';
      acc.refusal += c.delta.refusal ?? '';
      for (const t of c.delta.tool_calls ?? []) {
        const tool = (acc.tools[t.index] ??= { name: '', arguments: '' });
        if (t.id) tool.id = t.id;
        tool.name += t.function?.name ?? '';
        tool.arguments += t.function?.arguments ?? '';
      }
      if (c.finish_reason) {
        expect(acc.finish).toBeUndefined(); // one finish per choice
        acc.finish = c.finish_reason;
      }
    }
  }
  return { choices, usage };
}

describe('replayStream', () => {
  it('rebuilds the answer through the wire encoder: text, tool calls, refusal, one finish per choice', async () => {
    const chunks = await collect(answer, true);
    const encoder = new WireChunkEncoder({ id: 'chatcmpl-x', created: 1, model: 'gpt-4o-mini' }, true);
    const wire = chunks.map((c) => encoder.encode(c)).filter((w) => w !== null);
    expect(encoder.complete(3)).toBe(true);
    const { choices, usage } = accumulate(wire as Array<Record<string, any>>);
    expect(choices.get(0)).toMatchObject({ role: 'assistant', content: LONG, finish: 'stop' });
    expect(choices.get(1)).toMatchObject({ role: 'assistant', content: '', finish: 'tool_calls' });
    expect(choices.get(1)!.tools).toEqual(answer.choices[1]!.message.toolCalls!.map((t) => ({ id: t.id, name: t.function.name, arguments: t.function.arguments })));
    expect(choices.get(2)).toMatchObject({ refusal: answer.choices[2]!.message.refusal, finish: 'content_filter' });
    expect(usage).toEqual({ prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 });
    const last = wire.at(-1) as Record<string, any>;
    expect(last.choices).toEqual([]);
  });

  it('streams in small pieces, never splitting a surrogate pair', async () => {
    const chunks = await collect(answer, false);
    const texts = chunks.flatMap((c) => (c.type === 'delta' && c.text !== undefined ? [c.text] : []));
    expect(texts.length).toBeGreaterThan(10);
    for (const t of texts) {
      expect(t.length).toBeLessThanOrEqual(32);
      expect(t.length).toBeGreaterThan(0);
      expect(/^[\udc00-\udfff]/.test(t)).toBe(false);
      expect(/[\ud800-\udbff]$/.test(t)).toBe(false);
    }
    expect(texts.join('')).toBe(LONG);
  });

  it('sends a tool call\'s id and name first, then its arguments', async () => {
    const chunks = await collect(answer, false);
    const calls = chunks.filter((c): c is Extract<ChatChunk, { type: 'delta' }> => c.type === 'delta' && c.index === 1);
    expect(calls[0]!.toolCalls).toEqual([{ index: 0, id: 'call_a', type: 'function', function: { name: 'lookup', arguments: '' } }]);
    expect(calls[1]!.toolCalls![0]).toEqual({ index: 0, function: { arguments: expect.any(String) } });
  });

  it('keeps finish details and puts logprobs on the first delta only', async () => {
    const chunks = await collect(answer, false);
    expect(chunks.filter((c) => c.type === 'finish')).toEqual([
      { type: 'finish', index: 0, finish: 'stop' },
      { type: 'finish', index: 1, finish: 'tool_calls' },
      { type: 'finish', index: 2, finish: 'content_filter', contentFilterResults: { hate: { filtered: true } } },
    ]);
    const withLogprobs = chunks.filter((c) => c.type === 'delta' && c.logprobs !== undefined);
    expect(withLogprobs).toHaveLength(1);
    expect(withLogprobs[0]).toBe(chunks[0]);
  });

  it('sends usage last, only when asked and known', async () => {
    expect((await collect(answer, true)).at(-1)).toEqual({ type: 'usage', usage: answer.usage });
    expect((await collect(answer, false)).some((c) => c.type === 'usage')).toBe(false);
    const { usage: _, ...noUsage } = answer;
    expect((await collect(noUsage, true)).some((c) => c.type === 'usage')).toBe(false);
  });

  it('replays an empty text as just a finish', async () => {
    const chunks = await collect({ model: 'm', choices: [{ index: 0, message: { content: '' }, finishReason: 'stop' }] }, false);
    expect(chunks).toEqual([{ type: 'finish', index: 0, finish: 'stop' }]);
  });
});

describe('textPieces', () => {
  it('cuts after a space between min and max, else at max', () => {
    expect([...textPieces('aaaa bbbb cccc dddd', 4, 8)]).toEqual(['aaaa ', 'bbbb ', 'cccc ', 'dddd']);
    expect([...textPieces('abcdefghijkl', 4, 5)]).toEqual(['abcde', 'fghij', 'kl']);
    expect([...textPieces('', 4, 8)]).toEqual([]);
  });
});
