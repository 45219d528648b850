import { describe, expect, it } from 'vitest';
import type { ChatChunk } from '../../../src/core/chat-response.js';
import { collectStream } from '../../../src/health/collect-stream.js';
import { runShadowCall } from '../../../src/health/shadow-call.js';
import { FakeProvider } from '../../fixtures/fake-provider.js';
import { chatRequest } from '../../fixtures/requests.js';

async function* chunks(list: ChatChunk[]): AsyncIterable<ChatChunk> {
  for (const c of list) yield c;
}

describe('collectStream', () => {
  it('adds a stream up to its answer: text, tool calls from deltas, finish, usage, time to first chunk', async () => {
    let t = 100;
    const now = () => (t += 5);
    const { response, ttftMs } = await collectStream(
      {
        model: 'm',
        chunks: chunks([
          { type: 'delta', index: 0, toolCalls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'look', arguments: '{"q":' } }] },
          { type: 'delta', index: 0, toolCalls: [{ index: 0, function: { arguments: '"x"}' } }] },
          { type: 'finish', index: 0, finish: 'tool_calls' },
          { type: 'delta', index: 1, text: 'Hel' },
          { type: 'delta', index: 1, text: 'lo' },
          { type: 'finish', index: 1, finish: 'stop' },
          { type: 'usage', usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 } },
        ]),
      },
      100,
      now,
    );
    expect(ttftMs).toBe(5);
    expect(response.choices).toEqual([
      { index: 0, message: { content: null, toolCalls: [{ id: 'c1', type: 'function', function: { name: 'look', arguments: '{"q":"x"}' } }] }, finishReason: 'tool_calls' },
      { index: 1, message: { content: 'Hello' }, finishReason: 'stop' },
    ]);
    expect(response.usage?.totalTokens).toBe(3);
  });

  it('judges a streamed shadow call broken mid-way as bad, and a whole one as good with its TTFT', async () => {
    const p = new FakeProvider('p').script({ stream: ['a', 'b'], fail: 'network' }, { stream: ['a', 'b'] });
    const opts = { timeoutMs: 1000, cancel: new AbortController().signal, now: () => performance.now() };
    const target = { provider: 'p', model: 'm' };
    const bad = await runShadowCall(p, target, chatRequest({ stream: true }), opts);
    expect(bad).toMatchObject({ outcome: 'bad', error: { kind: 'network' } });
    const good = await runShadowCall(p, target, chatRequest({ stream: true }), opts);
    expect(good).toMatchObject({ outcome: 'good', ttftMs: expect.any(Number) });
  });
});
