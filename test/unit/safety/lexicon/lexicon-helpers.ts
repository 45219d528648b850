/**
 * Test helpers: list specs, a readable form of hits, the output filter's streaming loop, and a
 * naive reference matcher (indexOf over a separately built normalised text) to hold the
 * automaton against.
 */
import fc from 'fast-check';
import { foldText, MAX_SEPARATOR_RUN, SEPARATORS } from '../../../../src/safety/lexicon/char-class.js';
import { buildLexicon, type Lexicon, type LexiconHit, type LexiconList, type LexiconListSpec } from '../../../../src/safety/lexicon/lexicon.js';

/** Property runs (FUZZ_RUNS raises them, as for test/fuzz). */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);

// Small alphabets make overlaps, nesting, shared prefixes and failure chains common.
const termChars = ['a', 'b', 'A', '.', '-', 'é', 'ﬁ', 'i', 's', 'ß', '敏', '感', '𝐁'];
const textChars = [...termChars, ' ', 'e', '\u0301', '\u200B', '\u00AD', 'Ａ', 'ｂ', '．', '😀', 'x', '_', '\u0332'];

/** 1–3 random lists of 1–6 short terms, each with random flags. */
export const arbLists: fc.Arbitrary<LexiconList[]> = fc
  .array(
    fc.record({
      terms: fc.array(fc.array(fc.constantFrom(...termChars), { minLength: 1, maxLength: 4 }).map((c) => c.join('')), { minLength: 1, maxLength: 6 }),
      wordBoundary: fc.boolean(),
      separators: fc.boolean(),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((specs) => specs.map((s, i) => list(`l${i}`, s.terms, { wordBoundary: s.wordBoundary, separators: s.separators })));

/** Up to 30 characters over the alphabet, with invisible, combining, full-width and astral ones. */
export const arbText: fc.Arbitrary<string> = fc.array(fc.constantFrom(...textChars), { maxLength: 30 }).map((c) => c.join(''));

export function spec(id: string, opts: Partial<LexiconListSpec> = {}): LexiconListSpec {
  return { id, category: opts.category ?? id, file: opts.file ?? `/lists/${id}.txt`, wordBoundary: opts.wordBoundary ?? true, separators: opts.separators ?? false };
}

export function list(id: string, terms: string[], opts: Partial<LexiconListSpec> = {}): LexiconList {
  return { spec: spec(id, opts), terms };
}

/** `listId:start-end` for each hit, in the scan's order. */
export const show = (hits: readonly LexiconHit[]): string[] => hits.map((h) => `${h.listId}:${h.start}-${h.end}`);

/** Hits in a canonical order (start, end, list), for comparing sets. */
export const canonical = (hits: readonly LexiconHit[]): string[] =>
  [...hits].sort((p, q) => p.start - q.start || p.end - q.end || (p.listId < q.listId ? -1 : p.listId > q.listId ? 1 : 0)).map((h) => `${h.listId}:${h.start}-${h.end}`);

const lastCodePoint = (s: string): string => {
  if (!s) return '';
  const c = s.charCodeAt(s.length - 1);
  return c >= 0xdc00 && c <= 0xdfff && s.length > 1 ? s.slice(-2) : s.slice(-1);
};

/**
 * The caller's streaming loop (as the output filter runs it): scan the last released code
 * point + the held tail + the next chunk with `final: false`, release up to tailStart, record
 * the hits wholly released, hold the rest.
 * Returns the hits in offsets of the whole stream.
 */
export function streamHits(lexicon: Lexicon, chunks: readonly string[], stats?: { maxHeld: number }): LexiconHit[] {
  const out: LexiconHit[] = [];
  let before = '';
  let held = '';
  let base = 0; // stream offset of `held`
  for (let i = 0; i <= chunks.length; i++) {
    const final = i === chunks.length;
    const text = before + held + (final ? '' : chunks[i]!);
    const off = before.length;
    const r = lexicon.scan(text, { final });
    const cut = final ? text.length : Math.max(off, r.tailStart);
    // The scanner promises that no hit crosses tailStart (the output filter still checks).
    const crossing = r.hits.find((h) => h.start >= off && h.start < cut && h.end > cut);
    if (crossing) throw new Error(`hit ${crossing.start}-${crossing.end} crosses tailStart ${cut} in ${JSON.stringify(text)}`);
    for (const h of r.hits) if (h.start >= off && h.end <= cut) out.push({ ...h, start: h.start - off + base, end: h.end - off + base });
    if (cut > off) before = lastCodePoint(text.slice(0, cut));
    base += cut - off;
    held = text.slice(cut);
    if (stats) stats.maxHeld = Math.max(stats.maxHeld, held.length);
  }
  return out;
}

// --- the naive reference

const WORD = /^[\p{L}\p{N}\p{M}]$/u;
const MARK = /^\p{M}$/u;
const IGNORABLE = /^\p{Default_Ignorable_Code_Point}$/u;
// Ignorables are never part of a segment (a variation selector is \p{M} and ignorable: dropped).
const isMark = (c: string) => !IGNORABLE.test(c) && (MARK.test(c) || (c.codePointAt(0)! >= 0x1160 && c.codePointAt(0)! <= 0x11ff));
const seps = new Set(SEPARATORS);

interface Unit {
  ch: string;
  start: number;
  end: number;
}

/** Normalised units of `text`, each with its original segment range: segments cut naively by code point. */
export function naiveNormalize(text: string): Unit[] {
  const cps: { c: string; at: number }[] = [];
  for (let i = 0; i < text.length; ) {
    const c = String.fromCodePoint(text.codePointAt(i)!);
    cps.push({ c, at: i });
    i += c.length;
  }
  const units: Unit[] = [];
  for (let i = 0; i < cps.length; ) {
    if (IGNORABLE.test(cps[i]!.c)) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < cps.length && isMark(cps[j]!.c)) j++;
    const start = cps[i]!.at;
    const end = j < cps.length ? cps[j]!.at : text.length;
    for (const u of foldText(text.slice(start, end))) for (let x = 0; x < u.length; x++) units.push({ ch: u[x]!, start, end });
    i = j;
  }
  return units;
}

/** Code points of a unit string, for word tests. */
const cpBefore = (s: string, k: number) => (k <= 0 ? '' : String.fromCodePoint(s.codePointAt(k - 1 - (k >= 2 && /[\uDC00-\uDFFF]/.test(s[k - 1]!) && /[\uD800-\uDBFF]/.test(s[k - 2]!) ? 1 : 0))!));
const cpAt = (s: string, k: number) => (k >= s.length ? '' : String.fromCodePoint(s.codePointAt(k)!));

/** Indices of `n` (a normalised string) that are in a separator run between two word characters. */
function removedIndices(n: string): Set<number> {
  const removed = new Set<number>();
  for (let k = 0; k < n.length; ) {
    if (!seps.has(n[k]!) || !WORD.test(cpBefore(n, k))) {
      k++;
      continue;
    }
    let j = k;
    while (j < n.length && seps.has(n[j]!)) j++;
    if (j - k <= MAX_SEPARATOR_RUN && j < n.length && WORD.test(cpAt(n, j))) for (let x = k; x < j; x++) removed.add(x);
    k = j;
  }
  return removed;
}

/** What a final scan must report, computed with indexOf. */
export function naiveHits(lists: readonly LexiconList[], text: string): LexiconHit[] {
  const units = naiveNormalize(text);
  const n = units.map((u) => u.ch).join('');
  const removed = removedIndices(n);
  const sToN: number[] = [];
  let s = '';
  for (let k = 0; k < n.length; k++) {
    if (removed.has(k)) continue;
    sToN.push(k);
    s += n[k];
  }
  const hits = new Map<string, LexiconHit>();
  for (const l of lists) {
    for (const term of l.terms) {
      const full = naiveNormalize(term).map((u) => u.ch).join('');
      const gone = removedIndices(full);
      const key = [...full].filter((_, i) => !gone.has(i)).join('');
      if (!key) continue;
      for (let at = s.indexOf(key); at >= 0; at = s.indexOf(key, at + 1)) {
        const nStart = sToN[at]!;
        const nEnd = sToN[at + key.length - 1]! + 1;
        if (!l.spec.separators && n.slice(nStart, nEnd) !== full) continue;
        if (l.spec.wordBoundary && (WORD.test(cpBefore(n, nStart)) || WORD.test(cpAt(n, nEnd)))) continue;
        const hit = { start: units[nStart]!.start, end: units[nEnd - 1]!.end, listId: l.spec.id, category: l.spec.category };
        hits.set(`${hit.listId}:${hit.start}-${hit.end}`, hit);
      }
    }
  }
  return [...hits.values()];
}

export { buildLexicon };
