import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildLexicon } from '../../../../src/safety/lexicon/lexicon.js';
import { arbLists, arbText, canonical, list, naiveHits, RUNS } from './lexicon-helpers.js';


describe('lexicon against a naive reference', () => {
  it('reports exactly the matches indexOf finds on the normalised text', () => {
    fc.assert(
      fc.property(arbLists, arbText, (lists, text) => {
        const lexicon = buildLexicon(lists);
        expect(canonical(lexicon.scan(text).hits)).toEqual(canonical(naiveHits(lists, text)));
      }),
      { numRuns: RUNS },
    );
  });

  it('agrees on a larger random lexicon over longer texts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 30 }), (seed) => {
        let x = seed;
        const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
        const word = (chars: string[], lo: number, hi: number) => Array.from({ length: lo + Math.floor(rnd() * (hi - lo + 1)) }, () => chars[Math.floor(rnd() * chars.length)]!).join('');
        const lists = [
          list('bounded', Array.from({ length: 200 }, () => word(['a', 'b', 'c'], 2, 6))),
          list('free', Array.from({ length: 100 }, () => word(['a', 'b', 'c', '敏'], 1, 5)), { wordBoundary: false }),
          list('sep', Array.from({ length: 100 }, () => word(['a', 'b', '.'], 2, 5)), { separators: true }),
        ];
        const text = word(['a', 'b', 'c', 'A', ' ', '.', '-', '敏', '\u200B'], 200, 400);
        expect(canonical(buildLexicon(lists).scan(text).hits)).toEqual(canonical(naiveHits(lists, text)));
      }),
      { numRuns: Math.max(20, RUNS / 20) },
    );
  });
});
