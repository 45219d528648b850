import { describe, expect, it } from 'vitest';
import { buildLexicon } from '../../../../src/safety/lexicon/lexicon.js';
import { list, show } from './lexicon-helpers.js';

describe('lexicon matching', () => {
  it('reports every overlapping and nested match, by start then end', () => {
    const lx = buildLexicon([list('en', ['he', 'she', 'hers', 'his'], { wordBoundary: false })]);
    expect(show(lx.scan('ushers').hits)).toEqual(['en:1-4', 'en:2-4', 'en:2-6']);
    expect(show(lx.scan('hishe').hits)).toEqual(['en:0-3', 'en:2-5', 'en:3-5']);
  });

  it('reports a term once per list it is in, each with its list and category', () => {
    const lx = buildLexicon([list('a', ['bad'], { category: 'adult' }), list('b', ['BAD', 'bad'], { category: 'politics' })]);
    const { hits } = lx.scan('so bad');
    expect(hits).toEqual([
      { start: 3, end: 6, listId: 'a', category: 'adult' },
      { start: 3, end: 6, listId: 'b', category: 'politics' },
    ]);
    expect(lx.termCount).toBe(2);
  });

  it('matches CJK terms anywhere in a list without word boundaries', () => {
    const lx = buildLexicon([list('zh', ['敏感词', '测试'], { wordBoundary: false })]);
    expect(show(lx.scan('这是敏感词测试').hits)).toEqual(['zh:2-5', 'zh:5-7']);
    expect(lx.scan('这是敏感的词').hits).toEqual([]);
  });

  it('needs non-word characters on both sides with wordBoundary, and nothing without', () => {
    const bounded = buildLexicon([list('w', ['bad'])]);
    expect(show(bounded.scan('bad, badly, bad.').hits)).toEqual(['w:0-3', 'w:12-15']);
    expect(bounded.scan('abad xbad badx bad1 1bad').hits).toEqual([]);
    expect(show(bounded.scan('(bad)').hits)).toEqual(['w:1-4']);
    // A letter with a combining mark, or a CJK letter, is a word character too.
    expect(bounded.scan('bad\u0332 敏bad').hits).toEqual([]);
    const free = buildLexicon([list('f', ['bad'], { wordBoundary: false })]);
    expect(show(free.scan('abadx').hits)).toEqual(['f:1-4']);
  });

  it('skips separators between letters for a list with separators, not for one without', () => {
    const sep = buildLexicon([list('s', ['bad'], { separators: true })]);
    for (const t of ['b.a.d', 'b-a-d', 'b_a_d', 'b*a*d', 'b. a'.replace(' ', '') + 'd', 'b..a--d', 'B·A·D', 'b．a．d']) {
      expect(show(sep.scan(t).hits), t).toEqual([`s:0-${t.length}`]);
    }
    expect(sep.scan('b a d').hits, 'spaces are not separators').toEqual([]);
    expect(sep.scan('b.....a.d').hits, 'runs longer than 4 are text').toEqual([]);
    const plain = buildLexicon([list('p', ['bad'])]);
    expect(plain.scan('b.a.d b-a-d').hits).toEqual([]);
    expect(show(plain.scan('x.bad.y').hits)).toEqual(['p:2-5']);
  });

  it('keeps the per-list separator rule apart in one automaton', () => {
    const lx = buildLexicon([list('sep', ['bad'], { separators: true }), list('exact', ['bad', 'e-mail'])]);
    expect(show(lx.scan('b.a.d').hits)).toEqual(['sep:0-5']);
    expect(show(lx.scan('bad').hits)).toEqual(['sep:0-3', 'exact:0-3']);
    expect(show(lx.scan('x.bad.y').hits)).toEqual(['sep:2-5', 'exact:2-5']);
    // A term with a separator of its own matches only as written in a list without separators.
    expect(show(lx.scan('e-mail').hits)).toEqual(['exact:0-6']);
    expect(lx.scan('email e.mail').hits).toEqual([]);
  });

  it('lets a list with separators match its term with or without them', () => {
    const lx = buildLexicon([list('s', ['e-mail'], { separators: true })]);
    expect(show(lx.scan('email e.mail e-mail').hits)).toEqual(['s:0-5', 's:6-12', 's:13-19']);
  });

  it('matches terms that are separators or end with one where they are not between letters', () => {
    const lx = buildLexicon([list('p', ['c++', '...'], { wordBoundary: false })]);
    expect(show(lx.scan('I like c++ and ...').hits)).toEqual(['p:7-10', 'p:15-18']);
  });

  it('works with no lists, and with lists of no terms', () => {
    for (const lx of [buildLexicon([]), buildLexicon([list('e', [])])]) {
      expect(lx.scan('anything at all')).toEqual({ hits: [], tailStart: 15 });
      expect(lx.scan('partial', { final: false })).toEqual({ hits: [], tailStart: 7 });
      expect(lx.termCount).toBe(0);
    }
    expect(buildLexicon([]).lists).toEqual([]);
  });

  it('scans the empty text', () => {
    const lx = buildLexicon([list('w', ['bad'])]);
    expect(lx.scan('')).toEqual({ hits: [], tailStart: 0 });
    expect(lx.scan('', { final: false })).toEqual({ hits: [], tailStart: 0 });
  });

  it('exposes the list specs', () => {
    const lx = buildLexicon([list('w', ['bad'], { category: 'adult' })]);
    expect(lx.lists).toEqual([{ id: 'w', category: 'adult', file: '/lists/w.txt', wordBoundary: true, separators: false }]);
  });
});
