import { describe, expect, it } from 'vitest';
import { chatCompletionSchema, toTextCompletion } from '../../../src/wire/completions/completion-object.js';
import { CompletionsStreamEncoder } from '../../../src/wire/completions/completions-stream.js';
import { completionsParamOf, parseCompletionsRequest, toChatBody } from '../../../src/wire/completions/parse-completions-request.js';
import { FieldError } from '../../../src/wire/responses/field-error.js';

function refusal(body: unknown): FieldError {
  try {
    parseCompletionsRequest(body);
  } catch (e) {
    if (e instanceof FieldError) return e;
    throw e;
  }
  throw new Error('accepted');
}

const answer = (texts: string[], finish = 'stop', usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }) =>
  chatCompletionSchema.parse({
    id: 'chatcmpl-x',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    system_fingerprint: 'fp_1',
    choices: texts.map((t, index) => ({ index, message: { role: 'assistant', content: t, refusal: null }, logprobs: null, finish_reason: finish })),
    usage,
  });

describe('legacy completions → chat', () => {
  it('the prompt is one user message; sampling fields map, logit_bias is forwarded', () => {
    const r = parseCompletionsRequest({ model: 'chat', prompt: 'Say hi', max_tokens: 5, temperature: 0, top_p: 1, n: 2, stop: '\n', seed: 7, user: 'u', presence_penalty: 0.5, logit_bias: { '50256': -100 } });
    expect(toChatBody(r, r.prompts[0]!)).toEqual({
      model: 'chat',
      messages: [{ role: 'user', content: 'Say hi' }],
      logit_bias: { '50256': -100 },
      max_tokens: 5,
      temperature: 0,
      top_p: 1,
      n: 2,
      stop: ['\n'],
      seed: 7,
      presence_penalty: 0.5,
      user: 'u',
    });
  });

  it('an array of prompts is one chat request each (bounded)', () => {
    expect(parseCompletionsRequest({ model: 'chat', prompt: ['a', 'b'] }).prompts).toEqual(['a', 'b']);
    expect(refusal({ model: 'chat', prompt: Array.from({ length: 17 }, () => 'x') }).param).toBe('prompt');
    expect(refusal({ model: 'chat', prompt: [] }).param).toBe('prompt');
    expect(refusal({ model: 'chat', prompt: ['a', 3] }).code).toBe('unsupported_parameter');
  });

  it('refuses what chat models behind the router cannot do, by name', () => {
    expect(refusal({ model: 'chat', prompt: [1, 2, 3] })).toMatchObject({ param: 'prompt', code: 'unsupported_parameter' });
    expect(refusal({ model: 'chat', prompt: [[1, 2]] })).toMatchObject({ param: 'prompt', code: 'unsupported_parameter' });
    expect(refusal({ model: 'chat', prompt: 'x', logprobs: 2 })).toMatchObject({ param: 'logprobs', code: 'unsupported_parameter' });
    expect(refusal({ model: 'chat', prompt: 'x', suffix: 'end' })).toMatchObject({ param: 'suffix', code: 'unsupported_parameter' });
    expect(refusal({ model: 'chat', prompt: 'x', best_of: 3 })).toMatchObject({ param: 'best_of', code: 'unsupported_parameter' });
    expect(refusal({ model: 'chat', prompt: 'x', funny: 1 })).toMatchObject({ param: 'funny', code: 'unknown_parameter' });
    expect(refusal({ model: 'chat' })).toMatchObject({ param: 'prompt', code: 'missing_required_parameter' });
    expect(refusal({ model: 'chat', prompt: 'x', max_tokens: 0 }).param).toBe('max_tokens');
    // Their defaults are harmless.
    expect(() => parseCompletionsRequest({ model: 'chat', prompt: 'x', logprobs: null, suffix: null, best_of: 1, echo: false })).not.toThrow();
  });

  it('answers one text_completion: choices per prompt in order, echo, usage summed', () => {
    const r = parseCompletionsRequest({ model: 'chat', prompt: ['p0', 'p1'], n: 2, echo: true });
    const out = toTextCompletion(r, [answer(['a', 'b']), answer(['c', 'd'], 'length')], 'cmpl-1', 9);
    expect(out).toEqual({
      id: 'cmpl-1',
      object: 'text_completion',
      created: 9,
      model: 'gpt-4o-mini',
      system_fingerprint: 'fp_1',
      choices: [
        { text: 'p0a', index: 0, logprobs: null, finish_reason: 'stop' },
        { text: 'p0b', index: 1, logprobs: null, finish_reason: 'stop' },
        { text: 'p1c', index: 2, logprobs: null, finish_reason: 'length' },
        { text: 'p1d', index: 3, logprobs: null, finish_reason: 'length' },
      ],
      usage: { prompt_tokens: 6, completion_tokens: 4, total_tokens: 10 },
    });
  });

  it('streams text_completion chunks per prompt, then usage when asked, then [DONE]', () => {
    const r = parseCompletionsRequest({ model: 'chat', prompt: ['p0', 'p1'], stream: true, stream_options: { include_usage: true }, echo: true });
    const enc = new CompletionsStreamEncoder(r, 'cmpl-2', 9);
    const chunk = (choices: unknown[], usage?: unknown) => ({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices, ...(usage ? { usage } : {}) });
    const out: string[] = [];
    const feed = (p: number, d: unknown) => out.push(...enc.push(p, d).out);
    feed(0, chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
    feed(0, chunk([{ index: 0, delta: { content: ' hi' }, finish_reason: null }]));
    feed(0, chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
    feed(0, chunk([], { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2, cost_usd: 0.5 }));
    expect(enc.push(0, '[DONE]').ended).toBe(true);
    feed(1, chunk([{ index: 0, delta: { content: 'x' }, finish_reason: 'length' }]));
    feed(1, chunk([], { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3, cost_usd: 0.25 }));
    out.push(...enc.finish());
    const parsed = out.map((d) => (d === '[DONE]' ? d : (JSON.parse(d) as Record<string, unknown>)));
    expect(parsed).toEqual([
      { id: 'cmpl-2', object: 'text_completion', created: 9, model: 'gpt-4o-mini', choices: [{ text: 'p0', index: 0, logprobs: null, finish_reason: null }] },
      { id: 'cmpl-2', object: 'text_completion', created: 9, model: 'gpt-4o-mini', choices: [{ text: ' hi', index: 0, logprobs: null, finish_reason: null }] },
      { id: 'cmpl-2', object: 'text_completion', created: 9, model: 'gpt-4o-mini', choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }] },
      { id: 'cmpl-2', object: 'text_completion', created: 9, model: 'gpt-4o-mini', choices: [{ text: 'p1x', index: 1, logprobs: null, finish_reason: 'length' }] },
      { id: 'cmpl-2', object: 'text_completion', created: 9, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, cost_usd: 0.75 } },
      '[DONE]',
    ]);
  });

  it('an in-stream error is passed on, then [DONE], and ends the stream', () => {
    const r = parseCompletionsRequest({ model: 'chat', prompt: 'x', stream: true });
    const enc = new CompletionsStreamEncoder(r, 'cmpl-3', 9);
    const err = { error: { message: 'interrupted', type: 'upstream_error', param: null, code: 'stream_interrupted' } };
    expect(enc.push(0, err)).toEqual({ out: [JSON.stringify(err), '[DONE]'], ended: true });
    expect(enc.done).toBe(true);
    expect(enc.finish()).toEqual([]);
  });

  it('renames chat params in errors', () => {
    expect(completionsParamOf('messages[0].content')).toBe('prompt');
    expect(completionsParamOf('max_completion_tokens')).toBe('max_tokens');
    expect(completionsParamOf('temperature')).toBe('temperature');
  });
});
