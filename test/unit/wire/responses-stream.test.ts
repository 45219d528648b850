import { accumulateResponse } from 'openai/lib/responses/ResponseAccumulator';
import { Stream } from 'openai/core/streaming';
import type { Response as ApiResponse, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { describe, expect, it } from 'vitest';
import { parseResponsesRequest } from '../../../src/wire/responses/parse-responses-request.js';
import { formatResponsesEvent, ResponsesStreamEncoder, type ResponsesEvent } from '../../../src/wire/responses/responses-stream.js';

const env = { id: 'resp_test', createdAt: 1_700_000_000 };
const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
const usage = { id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8, cost_usd: 0.0001 } };

function run(payloads: unknown[], body: Record<string, unknown> = {}): ResponsesEvent[] {
  const enc = new ResponsesStreamEncoder(parseResponsesRequest({ model: 'chat', input: 'hi', ...body }), env, () => 1_700_000_001);
  return payloads.flatMap((p) => enc.push(p));
}

/** Reads the SSE with the official SDK's stream reader and folds it with its accumulator. */
async function throughSdk(events: ResponsesEvent[]) {
  const text = events.map(formatResponsesEvent).join('');
  const stream = Stream.fromSSEResponse<ResponseStreamEvent>(new Response(text, { headers: { 'content-type': 'text/event-stream' } }), new AbortController());
  const seen: string[] = [];
  let snapshot: ApiResponse | undefined;
  for await (const e of stream) {
    seen.push(e.type);
    snapshot = accumulateResponse(e, snapshot);
  }
  return { final: snapshot!, seen };
}

describe('chat stream → Responses events', () => {
  it('text: the whole sequence, numbered, and the SDK rebuilds the answer', async () => {
    const events = run([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop'), usage, '[DONE]']);
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const created = events[0]!.response as Record<string, unknown>;
    expect(created).toMatchObject({ id: 'resp_test', object: 'response', status: 'in_progress', model: 'gpt-4o-mini', output: [] });
    const done = events.at(-1)!.response as Record<string, unknown>;
    expect(done).toMatchObject({ status: 'completed', completed_at: 1_700_000_001, usage: { input_tokens: 5, output_tokens: 3, total_tokens: 8, cost_usd: 0.0001 } });
    const { final } = await throughSdk(events);
    expect(final.output_text).toBe('Hello');
    expect(final.status).toBe('completed');
  });

  it('tool calls: a message closes when a call starts; calls stream their arguments', async () => {
    const events = run([
      chunk({ role: 'assistant', content: 'Let me check.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"q":' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'other', arguments: '{}' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
      chunk({}, 'tool_calls'),
      '[DONE]',
    ]);
    const types = events.map((e) => e.type);
    expect(types.indexOf('response.output_item.done')).toBeLessThan(types.indexOf('response.function_call_arguments.delta'));
    const argsDone = events.filter((e) => e.type === 'response.function_call_arguments.done');
    expect(argsDone.map((e) => [e.name, e.arguments])).toEqual([
      ['lookup', '{"q":1}'],
      ['other', '{}'],
    ]);
    const { final } = await throughSdk(events);
    expect(final.output.map((o) => o.type)).toEqual(['message', 'function_call', 'function_call']);
    const call = final.output[1]!;
    expect(call.type === 'function_call' && [call.call_id, call.name, call.arguments]).toEqual(['call_1', 'lookup', '{"q":1}']);
    expect(final.status).toBe('completed');
  });

  it('length → response.incomplete (max_output_tokens); content_filter → incomplete (content_filter)', () => {
    const cut = run([chunk({ content: 'abc' }), chunk({}, 'length'), '[DONE]']);
    expect(cut.at(-1)).toMatchObject({ type: 'response.incomplete', response: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, completed_at: null } });
    expect((cut.at(-1)!.response as { output: Array<{ status: string }> }).output[0]!.status).toBe('incomplete');
    const filtered = run([chunk({ content: 'abc' }), chunk({}, 'content_filter'), '[DONE]']);
    expect(filtered.at(-1)).toMatchObject({ type: 'response.incomplete', response: { incomplete_details: { reason: 'content_filter' } } });
  });

  it('an in-stream error: an error event, then response.failed with what came so far', async () => {
    const err = { error: { message: 'The stream was interrupted: primary: upstream closed', type: 'upstream_error', param: null, code: 'stream_interrupted' } };
    const events = run([chunk({ content: 'par' }), err, '[DONE]']);
    expect(events.slice(-2).map((e) => e.type)).toEqual(['error', 'response.failed']);
    expect(events.at(-2)).toMatchObject({ code: 'stream_interrupted', message: err.error.message, param: null });
    expect(events.at(-1)!.response).toMatchObject({ status: 'failed', error: { code: 'stream_interrupted', message: err.error.message } });
    const { final, seen } = await throughSdk(events);
    expect(seen).toContain('error');
    expect(final.status).toBe('failed');
    expect(final.output_text).toBe('par');
  });

  it('a stream that ends without a finish reason fails rather than completes', () => {
    const events = run([chunk({ content: 'half' }), '[DONE]']);
    expect(events.at(-1)!.type).toBe('response.failed');
  });

  it('an empty answer still has its (empty) message; a refusal is its own part', async () => {
    const empty = await throughSdk(run([chunk({ role: 'assistant', content: '' }), chunk({}, 'stop'), '[DONE]']));
    expect(empty.final.output).toHaveLength(1);
    expect(empty.final.output_text).toBe('');
    const refused = run([chunk({ refusal: 'I cannot' }), chunk({}, 'stop'), '[DONE]']);
    expect(refused.map((e) => e.type)).toContain('response.refusal.delta');
    const { final } = await throughSdk(refused);
    expect(final.output[0]).toMatchObject({ type: 'message', content: [{ type: 'refusal', refusal: 'I cannot' }] });
  });

  it('echoes the request in the Response (tools, text format, instructions, metadata)', () => {
    const events = run([chunk({ content: 'x' }), chunk({}, 'stop'), '[DONE]'], {
      instructions: 'be brief',
      tools: [{ type: 'function', name: 'f' }],
      text: { format: { type: 'json_object' } },
      metadata: { team: 'a' },
      previous_response_id: 'resp_prev',
    });
    expect(events.at(-1)!.response).toMatchObject({
      instructions: 'be brief',
      tools: [{ type: 'function', name: 'f', description: null, parameters: null, strict: null }],
      text: { format: { type: 'json_object' } },
      tool_choice: 'auto',
      metadata: { team: 'a' },
      previous_response_id: 'resp_prev',
      store: true,
      truncation: 'disabled',
    });
  });
});
