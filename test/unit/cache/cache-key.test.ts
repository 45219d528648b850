import { describe, expect, it } from 'vitest';

import { cacheKey, keyMaterial, scopeOf } from '../../../src/cache/cache-key.js';
import { canonicalJson } from '../../../src/cache/canonical-json.js';
import type { ChatRequest } from '../../../src/core/chat-request.js';
import { chatRequest } from '../../fixtures/requests.js';

const SCOPE = 'key:k1';
const base = {
  model: 'chat',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'What is 2+2?' },
  ],
  temperature: 0,
  tools: [{ type: 'function', function: { name: 'calc', parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } } } }],
};

const key = (body: Record<string, unknown>, scope = SCOPE) => cacheKey(chatRequest(body), scope);

describe('canonicalJson', () => {
  it('ignores object key order, at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'x' } })).toBe(canonicalJson({ a: { c: 'x', d: [1, { x: 1, y: 2 }] }, b: 1 }));
  });

  it('drops undefined in objects, keeps the position in arrays', () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe(canonicalJson({ a: 1 }));
    expect(canonicalJson([1, undefined])).toBe('[1,null]');
    expect(canonicalJson([1, undefined])).not.toBe(canonicalJson([1]));
  });

  it('tells NaN and the infinities apart from null, from strings and from each other', () => {
    const texts = [NaN, Infinity, -Infinity, null, 'NaN', 'Infinity', 0].map((v) => canonicalJson({ v }));
    expect(new Set(texts).size).toBe(texts.length);
    expect(canonicalJson(-0)).toBe(canonicalJson(0));
  });

  it('keeps a __proto__ key of a null-prototype object, and refuses cycles', () => {
    const o = Object.create(null) as Record<string, unknown>;
    Object.defineProperty(o, '__proto__', { value: 1, enumerable: true });
    expect(canonicalJson(o)).toBe('{"__proto__":1}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(TypeError);
    const shared = { x: 1 };
    expect(canonicalJson([shared, shared])).toBe('[{"x":1},{"x":1}]'); // a repeat is not a cycle
  });
});

describe('cacheKey', () => {
  it('is sha256 hex and stable', () => {
    expect(key(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(key(base)).toBe(key(structuredClone(base)));
  });

  it('does not depend on key order of the body, tool schemas or passthrough fields', () => {
    const reordered = {
      tools: [{ function: { parameters: { properties: { b: { type: 'number' }, a: { type: 'number' } }, type: 'object' }, name: 'calc' }, type: 'function' }],
      temperature: 0,
      messages: [
        { content: 'Be brief.', role: 'system' },
        { content: 'What is 2+2?', role: 'user' },
      ],
      model: 'chat',
    };
    expect(key(reordered)).toBe(key(base));
    expect(key({ ...base, logit_bias: { '1': 5, '2': -5 } })).toBe(key({ ...base, logit_bias: { '2': -5, '1': 5 } }));
  });

  it('ignores the stream flag, stream_options and per-call metadata', () => {
    const k = key(base);
    expect(key({ ...base, stream: true })).toBe(k);
    expect(key({ ...base, stream: true, stream_options: { include_usage: true } })).toBe(k);
    expect(key({ ...base, user: 'end-user-7', metadata: { tag: 'x' }, store: true, service_tier: 'flex', safety_identifier: 'u', prompt_cache_key: 'p' })).toBe(k);
    const a = chatRequest(base);
    const b: ChatRequest = { ...a, meta: { requestId: 'other', apiKeyId: 'k9', receivedAt: 1 } };
    expect(cacheKey(b, SCOPE)).toBe(cacheKey(a, SCOPE));
  });

  it('ignores which wire field carried max tokens, not its value', () => {
    expect(key({ ...base, max_tokens: 50 })).toBe(key({ ...base, max_completion_tokens: 50 }));
    expect(key({ ...base, max_tokens: 50 })).not.toBe(key({ ...base, max_tokens: 51 }));
  });

  it('differs for every field that shapes the answer', () => {
    const variants: Array<Record<string, unknown>> = [
      { model: 'other-route' },
      { messages: [{ role: 'user', content: 'What is 2+3?' }] },
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'What is 2+2?' }] }] },
      { messages: [...base.messages, { role: 'user', content: 'and?' }] },
      { tools: undefined },
      { tool_choice: 'required' },
      { tool_choice: { type: 'function', function: { name: 'calc' } } },
      { response_format: { type: 'json_object' } },
      { temperature: 0.5 },
      { temperature: undefined },
      { top_p: 0.9 },
      { stop: ['\n'] },
      { seed: 7 },
      { n: 2 },
      { presence_penalty: 0.5 },
      { frequency_penalty: 0.5 },
      { max_tokens: 10 },
      { parallel_tool_calls: false },
      { logprobs: true },
      { reasoning_effort: 'low' },
      { some_future_field: 1 },
    ];
    const keys = new Set([key(base), ...variants.map((v) => key({ ...base, ...v }))]);
    expect(keys.size).toBe(variants.length + 1);
  });

  it('separates scopes', () => {
    const scopes = ['key:k1', 'key:k2', 'team:a', 'team:b', 'global'];
    expect(new Set(scopes.map((s) => key(base, s))).size).toBe(scopes.length);
  });

  it('hashes the material it shows', () => {
    const m = keyMaterial(chatRequest({ ...base, stream: true, user: 'u' }), SCOPE);
    expect(m).toContain('"scope":"key:k1"');
    expect(m).not.toContain('"stream"');
    expect(m).not.toContain('"u"');
  });
});

describe('scopeOf', () => {
  it('maps the configured scope to a caller', () => {
    expect(scopeOf('key', { keyId: 'k1', team: 't' })).toBe('key:k1');
    expect(scopeOf('team', { keyId: 'k1', team: 't' })).toBe('team:t');
    expect(scopeOf('global', { keyId: 'k1', team: 't' })).toBe('global');
  });

  it('keeps a caller without a team to itself under scope team', () => {
    expect(scopeOf('team', { keyId: 'k1' })).toBe('key:k1');
    expect(scopeOf('team', { keyId: 'k1', team: '' })).toBe('key:k1');
  });
});
