/**
 * What the lexicon needs to know about one character: whether it is invisible (removed), a
 * combining mark (joins the character before it), a word character (for word boundaries), a
 * separator (skipped between letters by lists with `separators: true`), and whether
 * normalisation leaves it as it is. Answers for the BMP are computed on first use and kept in
 * a 64 KiB table, so the scanner pays one array read per character.
 */

/** Removed before matching: Unicode Default_Ignorable_Code_Point (zero-width chars, soft hyphen, BOM, variation selectors, bidi controls). */
export const CH_IGNORABLE = 1;
/** Joins the character before it into one normalisation segment: \p{M}, and the Hangul medial/final jamo. */
export const CH_MARK = 2;
/** Letters, digits and marks (\p{L}\p{N}\p{M}): what a word boundary may not touch. */
export const CH_WORD = 4;
/** One of SEPARATORS. */
export const CH_SEPARATOR = 8;
/** foldText(c) === c and c is not ignorable or a mark: copied to the normalised text as it is. */
export const CH_STABLE = 16;
const KNOWN = 128;

/**
 * Characters that lists with `separators: true` skip between two word characters, as in
 * b.a.d, b-a-d, b_a_d, b*a*d, 敏·感·词. Plain spaces are not in it. Checked after NFKC, so
 * full-width forms (．－＿＊) count too.
 */
export const SEPARATORS: readonly string[] = [
  '.', ',', '-', '_', '*', '~', '+', '=', '|', '/', '\\', ':', ';', "'", '"', '^', '`',
  '\u00B7', // · middle dot
  '\u2022', // • bullet
  '\u2027', // ‧ hyphenation point
  '\u30FB', // ・ katakana middle dot (NFKC of half-width ･)
  '\u2010', // ‐ hyphen (NFKC of the non-breaking hyphen U+2011)
  '\u2012', // ‒ figure dash
  '\u2013', // – en dash
  '\u2014', // — em dash
  '\u2015', // ― horizontal bar
  '\u2212', // − minus sign
  '\u2018', // ‘
  '\u2019', // ’
];

/** A run of separators longer than this is text, not obfuscation (it also bounds look-ahead and the streamed tail). */
export const MAX_SEPARATOR_RUN = 4;

const separatorCodes = new Set(SEPARATORS.map((s) => s.charCodeAt(0)));
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/u;
const IGNORABLES = /\p{Default_Ignorable_Code_Point}/gu;
const MARK = /^\p{M}$/u;
const WORD = /^[\p{L}\p{N}\p{M}]$/u;

/**
 * The normalised form of a string: NFKC, then `toLowerCase()` (locale-independent), then
 * ß → ss and final ς → σ (the two common foldings toLowerCase leaves), NFKC again (lowering
 * can un-normalise), and ignorables removed.
 */
export function foldText(s: string): string {
  let t = s.normalize('NFKC').toLowerCase();
  if (t.includes('ß')) t = t.replaceAll('ß', 'ss');
  if (t.includes('ς')) t = t.replaceAll('ς', 'σ');
  t = t.normalize('NFKC');
  return IGNORABLE.test(t) ? t.replace(IGNORABLES, '') : t;
}

function classify(cp: number): number {
  const s = String.fromCodePoint(cp);
  // Lone surrogates: neither letters nor foldable; kept as they are.
  if (cp >= 0xd800 && cp <= 0xdfff) return CH_STABLE;
  if (IGNORABLE.test(s)) return CH_IGNORABLE;
  let f = 0;
  if (MARK.test(s) || (cp >= 0x1160 && cp <= 0x11ff)) f |= CH_MARK;
  if (WORD.test(s)) f |= CH_WORD;
  if (separatorCodes.has(cp)) f |= CH_SEPARATOR;
  if ((f & CH_MARK) === 0 && foldText(s) === s) f |= CH_STABLE;
  return f;
}

const bmp = new Uint8Array(0x10000);
const astral = new Map<number, number>();
for (let c = 0; c < 0x80; c++) bmp[c] = classify(c) | KNOWN;

/** The CH_* flags of a code point. */
export function charFlags(cp: number): number {
  if (cp < 0x10000) {
    const f = bmp[cp]!;
    if (f !== 0) return f & ~KNOWN;
    const g = classify(cp);
    bmp[cp] = g | KNOWN;
    return g;
  }
  let g = astral.get(cp);
  if (g === undefined) {
    g = classify(cp);
    if (astral.size < 65_536) astral.set(cp, g);
  }
  return g;
}

/** ASCII folded: A–Z lowered, everything else as it is. */
export const ASCII_FOLD: Uint16Array = (() => {
  const t = new Uint16Array(128);
  for (let c = 0; c < 128; c++) t[c] = c >= 65 && c <= 90 ? c + 32 : c;
  return t;
})();

const foldCache = new Map<number, string>();

/** foldText of one code point, memoised (full-width letters, accented capitals, ligatures). */
export function foldCodePoint(cp: number): string {
  let s = foldCache.get(cp);
  if (s === undefined) {
    s = foldText(String.fromCodePoint(cp));
    if (foldCache.size < 65_536) foldCache.set(cp, s);
  }
  return s;
}

const asciiWord = Uint8Array.from({ length: 128 }, (_, c) => ((bmp[c]! & CH_WORD) !== 0 ? 1 : 0));

/** Whether the code point that ends just before `k` in `units` is a word character (false at 0). */
export function isWordBefore(units: Uint16Array, k: number): boolean {
  if (k <= 0) return false;
  let cp = units[k - 1]!;
  if (cp < 0x80) return asciiWord[cp] === 1;
  if (cp >= 0xdc00 && cp <= 0xdfff && k >= 2) {
    const hi = units[k - 2]!;
    if (hi >= 0xd800 && hi <= 0xdbff) cp = (hi - 0xd800) * 0x400 + (cp - 0xdc00) + 0x10000;
  }
  return (charFlags(cp) & CH_WORD) !== 0;
}

/** Whether the code point that starts at `k` (< length) in `units` is a word character. */
export function isWordAt(units: Uint16Array, k: number, length: number): boolean {
  let cp = units[k]!;
  if (cp < 0x80) return asciiWord[cp] === 1;
  if (cp >= 0xd800 && cp <= 0xdbff && k + 1 < length) {
    const lo = units[k + 1]!;
    if (lo >= 0xdc00 && lo <= 0xdfff) cp = (cp - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000;
  }
  return (charFlags(cp) & CH_WORD) !== 0;
}
