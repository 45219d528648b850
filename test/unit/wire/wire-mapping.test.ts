import { describe, expect, it } from 'vitest';
import { WireChunkEncoder, toWireResponse } from '../../../src/wire/chunk-encoder.js';
import { WireValidationError } from '../../../src/wire/wire-common.js';
import { fromWireChunk, fromWireResponse } from '../../../src/wire/upstream-response.js';
import { parseChatRequest } from '../../../src/wire/parse-chat-request.js';
import { toWireRequest } from '../../../src/wire/upstream-request.js';

const meta = { requestId: 'r', receivedAt: 0 };

describe('app → internal', () => {
  it('reads every modelled field and keeps the rest as passthrough', () => {
    const req = parseChatRequest(
      {
        model: 'chat',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low' } }], name: 'ann' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: '42' },
        ],
        max_completion_tokens: 50,
        temperature: 0.2,
        top_p: 0.9,
        n: 2,
        stop: 'END',
        seed: 7,
        user: 'u-1',
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' }, strict: true } },
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
        tool_choice: 'auto',
        stream: true,
        stream_options: { include_usage: true },
        logit_bias: { '50256': -100 },
        metadata: { team: 'a' },
        service_tier: 'auto',
      },
      meta,
    );
    expect(req.params).toEqual({
      maxTokens: 50, maxTokensField: 'max_completion_tokens', temperature: 0.2, topP: 0.9, n: 2, stop: ['END'], seed: 7, user: 'u-1',
      responseFormat: { type: 'json_schema', jsonSchema: { name: 'x', schema: { type: 'object' }, strict: true } },
    });
    expect(req.stream).toBe(true);
    expect(req.includeUsage).toBe(true);
    expect(req.passthrough).toEqual({ logit_bias: { '50256': -100 }, metadata: { team: 'a' }, service_tier: 'auto' });
    expect(req.messages[2]).toEqual({ role: 'assistant', content: null, toolCalls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] });
    expect(req.messages[3]).toEqual({ role: 'tool', content: '42', toolCallId: 'c1' });
  });

  it('names the offending field', () => {
    const bad = () => parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], presence_penalty: 5 }, meta);
    expect(bad).toThrow(WireValidationError);
    try {
      bad();
    } catch (e) {
      expect((e as WireValidationError).param).toBe('presence_penalty');
    }
  });
});

describe('internal → upstream', () => {
  it('round-trips the request, keeping the max-tokens field the app chose and passthrough fields', () => {
    const req = parseChatRequest({ model: 'chat', messages: [{ role: 'user', content: 'x' }], max_tokens: 9, logprobs: true, top_logprobs: 2, stream: true }, meta);
    const body = toWireRequest(req, 'gpt-4o-mini');
    expect(body).toMatchObject({ model: 'gpt-4o-mini', max_tokens: 9, logprobs: true, top_logprobs: 2, stream: true, stream_options: { include_usage: true } });
    expect(body).not.toHaveProperty('max_completion_tokens');
  });
});

describe('upstream → internal', () => {
  it('reads a completion loosely, keeping Azure filter results', () => {
    const res = fromWireResponse({
      id: 'x', model: 'gpt-4o', created: 1, extra_field: true,
      choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] }, finish_reason: 'tool_calls', content_filter_results: { hate: { filtered: false } } }],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3, prompt_tokens_details: { cached_tokens: 0 } },
      prompt_filter_results: [{ prompt_index: 0 }],
    });
    expect(res.choices[0]!.finishReason).toBe('tool_calls');
    expect(res.choices[0]!.contentFilterResults).toEqual({ hate: { filtered: false } });
    expect(res.usage).toEqual({ promptTokens: 1, completionTokens: 2, totalTokens: 3, promptTokensDetails: { cached_tokens: 0 } });
    expect(res.promptFilterResults).toHaveLength(1);
  });

  it('rejects a body without choices (e.g. a 200 carrying an error)', () => {
    expect(() => fromWireResponse({ error: { message: 'boom' } })).toThrow();
  });

  it('reads stream chunks into deltas, finishes and usage', () => {
    expect(fromWireChunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] })).toEqual([]);
    expect(fromWireChunk({ choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: 'length' }] })).toEqual([
      { type: 'delta', index: 0, text: 'hi' },
      { type: 'finish', index: 0, finish: 'length' },
    ]);
    expect(fromWireChunk({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })).toEqual([
      { type: 'usage', usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 } },
    ]);
  });
});

describe('internal → app', () => {
  const env = { id: 'chatcmpl-1', created: 5, model: 'real-model' };

  it('writes a chat.completion', () => {
    const out = toWireResponse({ model: 'x', choices: [{ index: 0, message: { content: 'hi' }, finishReason: 'stop' }] }, env);
    expect(out).toEqual({
      id: 'chatcmpl-1', object: 'chat.completion', created: 5, model: 'real-model',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    });
  });

  it('frames chunks as OpenAI does', () => {
    const enc = new WireChunkEncoder(env, false);
    const a = enc.encode({ type: 'delta', index: 0, text: 'a' }) as { choices: Array<{ delta: object }> };
    const b = enc.encode({ type: 'delta', index: 0, text: 'b' }) as { choices: Array<{ delta: object }> };
    const f = enc.encode({ type: 'finish', index: 0, finish: 'stop' }) as { choices: Array<{ finish_reason: string }> };
    expect(a.choices[0]!.delta).toEqual({ role: 'assistant', content: 'a' });
    expect(b.choices[0]!.delta).toEqual({ content: 'b' });
    expect(f.choices[0]!.finish_reason).toBe('stop');
    expect(enc.encode({ type: 'finish', index: 0, finish: 'stop' })).toBeNull();
    expect(enc.encode({ type: 'usage', usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 } })).toBeNull();
    expect(enc.complete(1)).toBe(true);
  });
});
