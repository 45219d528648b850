import { describe, expect, it } from 'vitest';
import { LiveList } from '../../../src/core/live-list.js';

describe('LiveList', () => {
  it('keeps values in insertion order and removes any entry in O(1)', () => {
    const list = new LiveList<string>();
    const a = list.add('a');
    const b = list.add('b');
    const c = list.add('c');
    expect(list.size).toBe(3);
    expect(list.values()).toEqual(['a', 'b', 'c']);
    list.remove(b);
    expect(list.values()).toEqual(['a', 'c']);
    list.remove(a);
    expect(list.values()).toEqual(['c']);
    list.remove(c);
    expect(list.values()).toEqual([]);
    expect(list.size).toBe(0);
    // After emptying, adding works from a clean head and tail.
    list.add('d');
    list.add('e');
    expect(list.values()).toEqual(['d', 'e']);
  });

  it('ignores a second removal and clears what a removed entry held', () => {
    const list = new LiveList<{ n: number }>();
    const a = list.add({ n: 1 });
    list.add({ n: 2 });
    list.remove(a);
    list.remove(a);
    expect(list.size).toBe(1);
    expect(a.value).toBeUndefined();
    expect(a.prev).toBeUndefined();
    expect(a.next).toBeUndefined();
    expect(list.values()).toEqual([{ n: 2 }]);
  });

  it('shifts the oldest value first, and undefined when empty', () => {
    const list = new LiveList<number>();
    for (let i = 0; i < 4; i++) list.add(i);
    const middle = list.add(99);
    list.add(5);
    list.remove(middle);
    const out: number[] = [];
    for (let v = list.shift(); v !== undefined; v = list.shift()) out.push(v);
    expect(out).toEqual([0, 1, 2, 3, 5]);
    expect(list.shift()).toBeUndefined();
    expect(list.size).toBe(0);
  });

  it('values() is a copy: entries removed while it is walked are all still visited once', () => {
    const list = new LiveList<number>();
    const entries = [1, 2, 3].map((n) => list.add(n));
    const seen: number[] = [];
    for (const v of list.values()) {
      seen.push(v);
      for (const e of entries) list.remove(e);
    }
    expect(seen).toEqual([1, 2, 3]);
    expect(list.size).toBe(0);
  });

  it('clear() empties it and unlinks every entry', () => {
    const list = new LiveList<number>();
    const entries = [1, 2, 3].map((n) => list.add(n));
    list.clear();
    expect(list.size).toBe(0);
    expect(list.values()).toEqual([]);
    for (const e of entries) expect(e.value).toBeUndefined();
    list.remove(entries[1]!); // no effect
    expect(list.size).toBe(0);
  });
});
