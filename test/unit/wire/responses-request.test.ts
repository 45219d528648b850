import { describe, expect, it } from 'vitest';
import { FieldError } from '../../../src/wire/responses/field-error.js';
import { parseResponsesRequest } from '../../../src/wire/responses/parse-responses-request.js';
import { responsesParamOf, toChatBody } from '../../../src/wire/responses/to-chat-body.js';

/** The FieldError a body is refused with. */
function refusal(body: unknown): FieldError {
  try {
    parseResponsesRequest(body);
  } catch (e) {
    if (e instanceof FieldError) return e;
    throw e;
  }
  throw new Error('accepted');
}

describe('Responses request → chat body', () => {
  it('a string input is one user message; instructions go first as a system message', () => {
    const r = parseResponsesRequest({ model: 'chat', input: 'hi', instructions: 'be brief', max_output_tokens: 32, temperature: 0.5, top_p: 0.9, user: 'u1' });
    expect(toChatBody(r, [])).toEqual({
      model: 'chat',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
      ],
      max_completion_tokens: 32,
      temperature: 0.5,
      top_p: 0.9,
      user: 'u1',
    });
    expect(r.store).toBe(true);
  });

  it('maps items: parts, images, an assistant turn with its function calls grouped, and their outputs', () => {
    const r = parseResponsesRequest({
      model: 'chat',
      input: [
        { role: 'developer', content: 'rules' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'look' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'low' }] },
        { id: 'msg_1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'calling', annotations: [] }] },
        { type: 'function_call', call_id: 'c1', name: 'a', arguments: '{}', id: 'fc_1', status: 'completed' },
        { type: 'function_call', call_id: 'c2', name: 'b', arguments: '{"x":1}' },
        { type: 'function_call_output', call_id: 'c1', output: 'one' },
        { type: 'function_call_output', call_id: 'c2', output: [{ type: 'input_text', text: 'tw' }, { type: 'input_text', text: 'o' }] },
      ],
    });
    expect(toChatBody(r, []).messages).toEqual([
      { role: 'developer', content: 'rules' },
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }] },
      {
        role: 'assistant',
        content: 'calling',
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'a', arguments: '{}' } },
          { id: 'c2', type: 'function', function: { name: 'b', arguments: '{"x":1}' } },
        ],
      },
      { role: 'tool', content: 'one', tool_call_id: 'c1' },
      { role: 'tool', content: 'two', tool_call_id: 'c2' },
    ]);
  });

  it('maps function tools, tool_choice, parallel_tool_calls and text.format json_schema', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    const r = parseResponsesRequest({
      model: 'chat',
      input: 'x',
      tools: [{ type: 'function', name: 'lookup', description: 'find', parameters: { type: 'object' }, strict: false }],
      tool_choice: { type: 'function', name: 'lookup' },
      parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } },
      stream: true,
    });
    const body = toChatBody(r, []);
    expect(body.tools).toEqual([{ type: 'function', function: { name: 'lookup', description: 'find', parameters: { type: 'object' }, strict: false } }]);
    expect(body.tool_choice).toEqual({ type: 'function', function: { name: 'lookup' } });
    expect(body.parallel_tool_calls).toBe(false);
    expect(body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } });
    // A stream always asks for usage: the Response carries it.
    expect(body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('puts the previous conversation between the instructions and the new input', () => {
    const r = parseResponsesRequest({ model: 'chat', input: 'again', instructions: 'new rules' });
    const history = [
      { role: 'user' as const, content: 'first' },
      { role: 'assistant' as const, content: 'answer' },
    ];
    expect(toChatBody(r, history).messages).toEqual([{ role: 'system', content: 'new rules' }, ...history, { role: 'user', content: 'again' }]);
  });

  it('refuses unknown fields by name, never dropping them', () => {
    expect(refusal({ model: 'chat', input: 'x', reasoning: { effort: 'low' } })).toMatchObject({ param: 'reasoning', code: 'unknown_parameter' });
    expect(refusal({ model: 'chat', input: 'x', text: { format: { type: 'text' }, verbosity: 'low' } })).toMatchObject({ param: 'text.verbosity', code: 'unknown_parameter' });
    expect(refusal({ model: 'chat', input: [{ role: 'user', content: 'x', extra: 1 }] })).toMatchObject({ param: 'input[0].extra' });
    expect(refusal({ model: 'chat', input: 'x', background: true }).param).toBe('background');
    expect(refusal({ model: 'chat', input: 'x', include: ['message.output_text.logprobs'] }).param).toBe('include');
    // At their defaults they are harmless and accepted.
    expect(() => parseResponsesRequest({ model: 'chat', input: 'x', background: false, truncation: 'disabled', include: [], store: null })).not.toThrow();
  });

  it('refuses hosted tools naming tools[i].type, and checks function tools', () => {
    const e = refusal({ model: 'chat', input: 'x', tools: [{ type: 'function', name: 'ok' }, { type: 'web_search' }] });
    expect(e.param).toBe('tools[1].type');
    expect(e.message).toContain("'web_search'");
    expect(refusal({ model: 'chat', input: 'x', tools: [{ type: 'function', name: 'bad name' }] }).param).toBe('tools[0].name');
    expect(refusal({ model: 'chat', input: 'x', tool_choice: { type: 'web_search_preview' } }).param).toBe('tool_choice');
  });

  it('validates types and names the field path', () => {
    expect(refusal({ model: 'chat', input: 'x', temperature: 3 })).toMatchObject({ param: 'temperature', code: 'invalid_value' });
    expect(refusal({ model: 'chat', input: 'x', max_output_tokens: 8 }).param).toBe('max_output_tokens');
    expect(refusal({ input: 'x' })).toMatchObject({ param: 'model', code: 'missing_required_parameter' });
    expect(refusal({ model: 'chat', input: 42 }).param).toBe('input');
    expect(refusal({ model: 'chat', input: [{ type: 'reasoning', summary: [] }] }).param).toBe('input[0].type');
    expect(refusal({ model: 'chat', input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }).param).toBe('input[0].content[0].type');
    expect(refusal({ model: 'chat', input: [{ role: 'assistant', content: [{ type: 'input_text', text: 'x' }] }] }).param).toBe('input[0].content[0].type');
    expect(refusal({ model: 'chat', input: [{ type: 'function_call', call_id: 'c', name: 'f' }] })).toMatchObject({ param: 'input[0].arguments', code: 'missing_required_parameter' });
    expect(refusal({ model: 'chat', input: 'x', metadata: { a: 1 } }).param).toBe('metadata.a');
    expect(refusal({ model: 'chat', input: 'x', text: { format: { type: 'json_schema', name: 'n' } } }).param).toBe('text.format.schema');
  });

  it('refuses uploaded file ids for images (400 naming file_id)', () => {
    const e = refusal({ model: 'chat', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-123', detail: 'auto' }] }] });
    expect(e).toMatchObject({ param: 'input[0].content[0].file_id', code: 'unsupported_parameter' });
  });

  it('needs something to answer', () => {
    const r = parseResponsesRequest({ model: 'chat', instructions: 'only rules' });
    expect(() => toChatBody(r, [])).toThrow(FieldError);
  });

  it('renames the chat path params of an error to Responses fields', () => {
    expect(responsesParamOf('max_completion_tokens')).toBe('max_output_tokens');
    expect(responsesParamOf('response_format.json_schema.name')).toBe('text.format');
    expect(responsesParamOf('tools[2].function.name')).toBe('tools[2].name');
    expect(responsesParamOf('messages[3].content')).toBe('input');
    expect(responsesParamOf('temperature')).toBe('temperature');
    expect(responsesParamOf(null)).toBeNull();
  });
});
