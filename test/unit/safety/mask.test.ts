import { describe, expect, it } from 'vitest';
import { maskSpans } from '../../../src/safety/mask.js';

describe('maskSpans', () => {
  it('masks exactly the spans, one mask per code point', () => {
    expect(maskSpans('a bad day', [{ start: 2, end: 5 }], '*')).toBe('a *** day');
    expect(maskSpans('这是敏感词测试', [{ start: 2, end: 5 }], '*')).toBe('这是***测试');
    expect(maskSpans('x😀y', [{ start: 1, end: 3 }], '#')).toBe('x#y');
    expect(maskSpans('abc', [], '*')).toBe('abc');
  });

  it('merges overlapping and nested spans in any order, with a multi-character mask', () => {
    expect(maskSpans('ushers', [{ start: 2, end: 6 }, { start: 1, end: 4 }, { start: 2, end: 4 }], '*')).toBe('u*****');
    expect(maskSpans('abcdef', [{ start: 4, end: 5 }, { start: 0, end: 1 }], '[x]')).toBe('[x]bcd[x]f');
  });
});
