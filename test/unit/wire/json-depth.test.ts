import { describe, expect, it } from 'vitest';
import { findTooDeep } from '../../../src/wire/json-depth.js';
import { parseChatRequest } from '../../../src/wire/parse-chat-request.js';
import { WireValidationError } from '../../../src/wire/wire-common.js';

const meta = { requestId: 'r', receivedAt: 0 };

describe('JSON nesting depth', () => {
  it('finds the path to the first value nested too deep, without recursion', () => {
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
    const path = findTooDeep({ a: 1, b: { c: deep } }, 64);
    expect(path?.slice(0, 3)).toEqual(['b', 'c', 0]);
    expect(findTooDeep({ a: [[[1]]] }, 4)).toBeUndefined();
    expect(findTooDeep({ a: [[[[1]]]] }, 4)).toEqual(['a', 0, 0, 0]);
  });
  it('the request parser refuses it naming the top-level field', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'x' }], metadata: JSON.parse('['.repeat(70) + ']'.repeat(70)) as unknown };
    expect(() => parseChatRequest(body, meta)).toThrow(WireValidationError);
    try {
      parseChatRequest(body, meta);
    } catch (e) {
      expect((e as WireValidationError).param).toBe('metadata');
    }
    expect(() => parseChatRequest(body, meta, { maxDepth: 100 })).not.toThrow();
  });
  it('keeps a "__proto__" field as plain passthrough data', () => {
    const body = JSON.parse('{"model":"m","messages":[{"role":"user","content":"x"}],"__proto__":{"x":1}}') as unknown;
    const r = parseChatRequest(body, meta);
    expect(Object.keys(r.passthrough)).toEqual(['__proto__']);
    expect(JSON.stringify(r.passthrough)).toBe('{"__proto__":{"x":1}}');
  });
});
