import { describe, expect, it } from 'vitest';
import { buildLexicon } from '../../../../src/safety/lexicon/lexicon.js';
import { NormBuffers, normalizeInto, normalizeTerm, stripSeparators } from '../../../../src/safety/lexicon/normalize.js';
import { list, show } from './lexicon-helpers.js';

const bounded = buildLexicon([list('w', ['bad', 'fish', 'strasse', 'café', 'плохо', '12'])]);
const free = buildLexicon([list('f', ['bad', 'ish', 'ss', 'e'], { wordBoundary: false })]);
const spans = (text: string, lx = bounded) => lx.scan(text).hits.map((h) => text.slice(h.start, h.end));

describe('lexicon normalisation', () => {
  it('folds case and full-width forms, with original offsets', () => {
    expect(show(bounded.scan('BAD Bad ＢＡＤ ｂａｄ').hits)).toEqual(['w:0-3', 'w:4-7', 'w:8-11', 'w:12-15']);
    expect(show(bounded.scan('ПЛОХО').hits)).toEqual(['w:0-5']);
    // Mathematical bold letters are astral (two units each): NFKC makes them ASCII.
    expect(show(bounded.scan('so 𝐁𝐀𝐃!').hits)).toEqual(['w:3-9']);
  });

  it('removes zero-width characters and soft hyphens, covering those inside a match only', () => {
    expect(show(bounded.scan('b\u200Bad').hits)).toEqual(['w:0-4']);
    expect(show(bounded.scan('\u200Bb\u200C\u200Da\u2060d\uFEFF').hits)).toEqual(['w:1-7']);
    expect(show(bounded.scan('ba\u00ADd').hits)).toEqual(['w:0-4']);
    expect(spans('x \u200Bb\u200Bad\u200B y')).toEqual(['b\u200Bad']);
    // A zero-width character does not make a word boundary: "x​bad" is "xbad".
    expect(bounded.scan('x\u200Bbad').hits).toEqual([]);
  });

  it('maps NFKC expansions back to the whole source character', () => {
    // ﬁ (1 unit) → fi: a match of fish covers the ligature, and so does one of "ish".
    expect(show(bounded.scan('ﬁsh').hits)).toEqual(['w:0-3']);
    expect(show(free.scan('ﬁsh').hits)).toEqual(['f:0-3']);
    // ① → 1, ⑫ → 12.
    expect(show(bounded.scan('①② and ⑫').hits)).toEqual(['w:0-2', 'w:7-8']);
    // ß → ss: strasse matches Straße (6 chars) and STRASSE.
    expect(show(bounded.scan('Straße STRASSE').hits)).toEqual(['w:0-6', 'w:7-14']);
    expect(show(free.scan('ß').hits)).toEqual(['f:0-1']);
    // Both s of ß → ss are one original character: one hit, not two.
    expect(show(buildLexicon([list('s', ['s'], { wordBoundary: false })]).scan('ß').hits)).toEqual(['s:0-1']);
  });

  it('composes combining sequences: a decomposed é is é, not e', () => {
    expect(show(bounded.scan('cafe\u0301 café CAFÉ').hits)).toEqual(['w:0-5', 'w:6-10', 'w:11-15']);
    const decomposedTerm = buildLexicon([list('d', ['cafe\u0301'])]);
    expect(show(decomposedTerm.scan('café').hits)).toEqual(['d:0-4']);
    expect(free.scan('e\u0301').hits).toEqual([]);
    // A mark that does not compose stays with its letter: the match covers it.
    expect(spans('xx e\u0332 yy', free)).toEqual(['e\u0332']);
  });

  it('counts offsets in UTF-16 units after astral characters', () => {
    expect(show(bounded.scan('😀 bad 😀').hits)).toEqual(['w:3-6']);
    expect(show(free.scan('😀bad').hits)).toEqual(['f:2-5']);
  });

  it('normalises terms the same way as text', () => {
    expect(normalizeTerm('ＢＡＤ')).toBe('bad');
    expect(normalizeTerm('b\u200Bad\u00AD')).toBe('bad');
    expect(normalizeTerm('Straße')).toBe('strasse');
    expect(normalizeTerm('ﬁ')).toBe('fi');
    expect(normalizeTerm('ΌΣΟΣ')).toBe('όσοσ');
    expect(stripSeparators('b.a.d')).toBe('bad');
    expect(stripSeparators('c++')).toBe('c++');
    expect(stripSeparators('.net')).toBe('.net');
    expect(stripSeparators('a.....b')).toBe('a.....b');
    const lx = buildLexicon([list('w', ['Bad', 'BAD', 'ｂａｄ', 'b\u200Bad'])]);
    expect(lx.termCount).toBe(1);
  });

  it('writes no map while every unit comes from the unit at the same index', () => {
    const buf = new NormBuffers();
    const ascii = normalizeInto('Hello, World 敏感词', buf);
    expect(ascii.srcStart).toBeNull();
    expect(String.fromCharCode(...ascii.units.subarray(0, ascii.length))).toBe('hello, world 敏感词');
    const mapped = normalizeInto('aﬁ\u200Bb', buf);
    expect(String.fromCharCode(...mapped.units.subarray(0, mapped.length))).toBe('afib');
    expect([...mapped.srcStart!.subarray(0, mapped.length)]).toEqual([0, 1, 1, 3]);
    expect([...mapped.srcEnd!.subarray(0, mapped.length)]).toEqual([1, 2, 2, 4]);
  });

  it('grows its buffers for expansions longer than the text', () => {
    // U+FDFA expands to 18 letters under NFKC.
    const text = '\uFDFA'.repeat(5000);
    const n = normalizeInto(text, new NormBuffers());
    expect(n.length).toBe(18 * 5000);
    expect(n.srcStart![n.length - 1]).toBe(4999);
    expect(n.srcEnd![n.length - 1]).toBe(5000);
  });
});
