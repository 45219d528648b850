import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildLexicon } from '../../../../src/safety/lexicon/lexicon.js';
import { arbLists, arbText, canonical, list, RUNS, show, streamHits } from './lexicon-helpers.js';

const lx = buildLexicon([
  list('w', ['bad', 'badly'], { separators: true }),
  list('en', ['he', 'she', 'hers'], { wordBoundary: false }),
  list('zh', ['敏感词'], { wordBoundary: false }),
]);
const withCafe = buildLexicon([list('w', ['bad']), list('cafe', ['café'], { wordBoundary: false })]);
const tail = (text: string) => lx.scan(text, { final: false }).tailStart;

/** Cut points (any UTF-16 offset, so surrogate pairs get split too). */
const arbCuts = fc.array(fc.nat(40), { maxLength: 6 });
const chunked = (text: string, cuts: number[]): string[] => {
  const at = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort((p, q) => p - q);
  return [0, ...at].map((from, i) => text.slice(from, [...at, text.length][i]));
};

describe('lexicon tailStart', () => {
  it('is text.length when nothing can be in progress, and always with final', () => {
    expect(tail('hello world ')).toBe(12);
    expect(tail('')).toBe(0);
    expect(lx.scan('so ba', { final: true }).tailStart).toBe(5);
    expect(lx.scan('so ba').tailStart).toBe(5);
  });

  it('is where the longest term prefix at the end starts', () => {
    expect(tail('so ba')).toBe(3);
    expect(tail('这是敏感')).toBe(2);
    // "ush": "sh" (of she) starts before "h" (of he, hers).
    expect(tail('ush')).toBe(1);
  });

  it('skips a prefix whose terms all need a boundary the character before denies', () => {
    expect(tail('xba')).toBe(3);
    expect(tail('x ba')).toBe(2);
  });

  it('holds a complete match that waits for its right boundary', () => {
    const open = lx.scan('so bad', { final: false });
    expect(open.hits).toEqual([]);
    expect(open.tailStart).toBe(3);
    expect(show(lx.scan('so bad').hits)).toEqual(['w:3-6']);
    const closed = lx.scan('so bad!', { final: false });
    expect(show(closed.hits)).toEqual(['w:3-6']);
    expect(closed.tailStart).toBe(7);
  });

  it('holds a trailing separator run that separators may still skip', () => {
    expect(tail('so b.')).toBe(3);
    expect(tail('so b.a-')).toBe(3);
    expect(tail('so x.')).toBe(5);
  });

  it('holds invisible characters just before the cut: the released text ends with a visible one', () => {
    expect(tail('hello\u200B')).toBe(5);
    expect(tail('so \u200Bba')).toBe(3);
  });

  it('holds the last character when a later combining mark could compose a term', () => {
    // "cafe" + "\u0301" in the next chunk is "café".
    const cafeTail = (text: string) => withCafe.scan(text, { final: false }).tailStart;
    expect(cafeTail('a cafe')).toBe(2);
    expect(cafeTail('a caf')).toBe(2);
    expect(cafeTail('a x')).toBe(2);
    expect(cafeTail('a x.')).toBe(4);
    expect(canonical(streamHits(withCafe, ['a cafe', '\u0301!']))).toEqual(['cafe:2-7']);
    // A lexicon without composed characters holds nothing for that.
    expect(tail('a x')).toBe(3);
  });
});

describe('lexicon streaming', () => {
  const cases = ['so bad!', 'a badly done', 'b.a.d here', 'ushers', '这是敏感词测试', 'xbad bad', 'b\u200Bad'];

  it('finds a term split across two chunks at every position', () => {
    for (const text of cases) {
      const whole = canonical(lx.scan(text).hits);
      expect(whole.length, text).toBeGreaterThan(0);
      for (let i = 0; i <= text.length; i++) {
        expect(canonical(streamHits(lx, [text.slice(0, i), text.slice(i)])), `${text} split at ${i}`).toEqual(whole);
      }
    }
  });

  it('gives the same hits chunk by chunk as in one scan, one character at a time', () => {
    for (const text of cases) expect(canonical(streamHits(lx, [...text])), text).toEqual(canonical(lx.scan(text).hits));
  });

  it('holds back no more than a term in progress needs', () => {
    const words = ['so', 'bad', 'badly', 'ushers', 'b.a.d', 'she', 'held', 'the', 'bar', 'x'];
    let text = '';
    for (let i = 0; i < 400; i++) text += words[(i * 7) % words.length] + (i % 5 ? ' ' : '. ');
    const stats = { maxHeld: 0 };
    expect(canonical(streamHits(lx, [...text], stats))).toEqual(canonical(lx.scan(text).hits));
    // "badly" (5) waiting for its boundary is the longest.
    expect(stats.maxHeld).toBeLessThanOrEqual(5);
  });

  it('holds a chunk that ends inside a surrogate pair', () => {
    // 𝐁𝐀𝐃 (mathematical bold, two units each) is bad under NFKC.
    const text = 'so 𝐁𝐀𝐃!';
    expect(lx.scan(text.slice(0, 4), { final: false }).tailStart).toBe(3);
    for (let i = 0; i <= text.length; i++) expect(canonical(streamHits(lx, [text.slice(0, i), text.slice(i)])), `split at ${i}`).toEqual(['w:3-9']);
  });

  it('does not invent a boundary at a chunk start', () => {
    // "x" then "bad ": the left context of bad is x, so no match.
    expect(streamHits(lx, ['x', 'bad '])).toEqual([]);
    expect(streamHits(lx, ['x\u200B', 'bad '])).toEqual([]);
  });

  it('matches a one-shot scan on random texts and random chunkings', () => {
    const rich = buildLexicon([
      list('w', ['ab', 'aba', 'b.b', 'ba'], { separators: true }),
      list('x', ['ab', 'bab', 'a-b'], { separators: false }),
      list('f', ['aa', 'é', 'ﬁ', '敏感', 'ss', 'a.'], { wordBoundary: false }),
      list('s', ['a.b', 'sa', '😀b'], { wordBoundary: false, separators: true }),
    ]);
    const alphabet = ['a', 'b', 'A', 'B', '.', '-', ' ', '\u200B', 'e', '\u0301', 'é', 'f', 'i', 'ﬁ', 'ß', 's', '敏', '感', '😀', '𝐁', '\uD83D'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 24 }), arbCuts, (chars, cuts) => {
        const text = chars.join('');
        expect(canonical(streamHits(rich, chunked(text, cuts)))).toEqual(canonical(rich.scan(text).hits));
      }),
      { numRuns: RUNS },
    );
  });

  it('matches a one-shot scan for random lexicons too', () => {
    fc.assert(
      fc.property(arbLists, arbText, arbCuts, (lists, text, cuts) => {
        const lexicon = buildLexicon(lists);
        expect(canonical(streamHits(lexicon, chunked(text, cuts)))).toEqual(canonical(lexicon.scan(text).hits));
      }),
      { numRuns: RUNS },
    );
  });
});
