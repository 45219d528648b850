import { describe, expect, it } from 'vitest';
import type { ChatResponse } from '../../../src/core/chat-response.js';
import { judgeAnswer } from '../../../src/health/judge-answer.js';
import { chatRequest } from '../../fixtures/requests.js';

const answer = (content: string | null, extra: Partial<ChatResponse['choices'][number]> = {}): ChatResponse => ({
  model: 'm',
  choices: [{ index: 0, message: { content }, finishReason: 'stop', ...extra }],
});
const jsonObject = chatRequest({ response_format: { type: 'json_object' } });
const jsonSchema = chatRequest({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } } });

describe('judgeAnswer', () => {
  it('accepts text', () => {
    expect(judgeAnswer(chatRequest(), answer('hello'))).toBeUndefined();
  });

  it.each([['', 'empty'], ['   \n', 'blank'], [null, 'null']])('rejects %j output (%s)', (content, _what) => {
    expect(judgeAnswer(chatRequest(), answer(content))).toMatch(/empty output/);
  });

  it('rejects an answer with no choices', () => {
    expect(judgeAnswer(chatRequest(), { model: 'm', choices: [] })).toBe('no choices');
  });

  it('accepts tool calls without text, but not ones whose arguments are not JSON', () => {
    const call = (args: string) => answer(null, { message: { content: null, toolCalls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: args } }] }, finishReason: 'tool_calls' });
    expect(judgeAnswer(chatRequest(), call('{"x":1}'))).toBeUndefined();
    expect(judgeAnswer(chatRequest(), call('{"x":'))).toMatch(/not valid JSON/);
  });

  it.each([jsonObject, jsonSchema])('wants a JSON object when a JSON format was asked', (req) => {
    expect(judgeAnswer(req, answer('{"a":1}'))).toBeUndefined();
    expect(judgeAnswer(req, answer('Sure! {"a":1}'))).toMatch(/not valid JSON/);
    expect(judgeAnswer(req, answer('"just a string"'))).toMatch(/not valid JSON/);
  });

  it('does not blame the target for JSON cut short by the app’s max_tokens', () => {
    expect(judgeAnswer(jsonObject, answer('{"a":', { finishReason: 'length' }))).toBeUndefined();
  });

  it('does not ask for JSON when none was asked', () => {
    expect(judgeAnswer(chatRequest(), answer('{"a":'))).toBeUndefined();
  });
});
