/**
 * Text normalisation for the lexicon, with a map back to the original text.
 *
 * The text is cut into segments: a base code point and the combining marks after it (an
 * ignorable character ends a segment). Each segment becomes `foldText(segment)` (NFKC, lower
 * case, ß → ss, ignorables removed), and every unit it yields maps to the segment's whole
 * original range, so a match that covers part of a ligature (ﬁ → fi) or of a composed letter
 * covers the whole of it in the original. Folding per segment equals folding the whole text
 * except where NFKC would reorder or compose across a boundary we do not cut at (rare: e.g. a
 * mark after a zero-width space stays apart, as NFKC of the whole text keeps it apart too).
 *
 * Fast paths: ASCII is lowered through a table; characters that fold to themselves (most CJK,
 * lower-case Latin, digits) are copied; those that fold to one unit (Ａ, É) are looked up.
 * While every unit comes from the original unit at the same index (no removal, no expansion)
 * no map is written at all (`srcStart === null`).
 */
import { ASCII_FOLD, CH_IGNORABLE, CH_MARK, CH_SEPARATOR, CH_STABLE, MAX_SEPARATOR_RUN, charFlags, foldCodePoint, foldText, isWordAt, isWordBefore } from './char-class.js';

/** A normalised text: `units[0..length)`, each from original range `[srcStart[k], srcEnd[k])`. */
export interface NormalizedText {
  /** Normalised UTF-16 units (a reused buffer: only `[0, length)` is meaningful). */
  units: Uint16Array;
  length: number;
  /** Null when unit k comes from original unit k (no map needed). */
  srcStart: Int32Array | null;
  srcEnd: Int32Array | null;
}

/** Buffers reused from scan to scan (scans are synchronous, so one set serves every scan). */
export class NormBuffers {
  units = new Uint16Array(1024);
  srcStart = new Int32Array(1024);
  srcEnd = new Int32Array(1024);

  /** Makes room for `n` units, keeping the first `keep`. */
  reserve(n: number, keep: number, withMap: boolean): void {
    if (n > this.units.length) {
      const size = Math.max(n, this.units.length * 2);
      const u = new Uint16Array(size);
      u.set(this.units.subarray(0, keep));
      this.units = u;
    }
    if (withMap && n > this.srcStart.length) {
      const size = Math.max(n, this.units.length);
      const s = new Int32Array(size);
      s.set(this.srcStart.subarray(0, keep));
      const e = new Int32Array(size);
      e.set(this.srcEnd.subarray(0, keep));
      this.srcStart = s;
      this.srcEnd = e;
    }
  }

  /** Drops buffers grown past `limit` units, so one huge text does not pin its memory. */
  shrink(limit: number): void {
    if (this.units.length > limit) this.units = new Uint16Array(1024);
    if (this.srcStart.length > limit) {
      this.srcStart = new Int32Array(1024);
      this.srcEnd = new Int32Array(1024);
    }
  }
}

/** Normalises `text` into `buf`. */
export function normalizeInto(text: string, buf: NormBuffers): NormalizedText {
  const len = text.length;
  buf.reserve(len + 2, 0, false);
  const units = buf.units;
  let i = 0;
  let k = 0;
  // Identity phase: unit k is original unit k.
  while (i < len) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      units[k++] = ASCII_FOLD[c]!;
      i++;
      continue;
    }
    if (c < 0xd800 || c > 0xdfff) {
      const f = charFlags(c);
      if ((f & CH_STABLE) !== 0) units[k++] = c;
      else {
        // Folded one to one (Ａ → a, É → é, ， → ,): offsets stay the same.
        if ((f & (CH_IGNORABLE | CH_MARK)) !== 0) break;
        const out = foldCodePoint(c);
        if (out.length !== 1) break;
        units[k++] = out.charCodeAt(0);
      }
      i++;
      continue;
    }
    if (c <= 0xdbff && i + 1 < len) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        if ((charFlags((c - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000) & CH_STABLE) === 0) break;
        units[k++] = c;
        units[k++] = lo;
        i += 2;
        continue;
      }
    }
    units[k++] = c; // a lone surrogate stays as it is
    i++;
  }
  if (i === len) return { units, length: k, srcStart: null, srcEnd: null };
  return mappedPhase(text, buf, i, k);
}

/** From the first unit that needs a map on: every unit gets its original segment range. */
function mappedPhase(text: string, buf: NormBuffers, i0: number, k0: number): NormalizedText {
  const len = text.length;
  buf.reserve(Math.max(len + 2, buf.units.length), k0, true);
  let { units, srcStart, srcEnd } = buf;
  for (let j = 0; j < k0; j++) {
    srcStart[j] = j;
    srcEnd[j] = j + 1;
  }
  let i = i0;
  let k = k0;
  while (i < len) {
    if (k + 2 > units.length) {
      buf.reserve(k + 2, k, true);
      ({ units, srcStart, srcEnd } = buf);
    }
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      units[k] = ASCII_FOLD[c]!;
      srcStart[k] = i;
      srcEnd[k++] = i + 1;
      i++;
      continue;
    }
    let cp = c;
    let size = 1;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = (c - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000;
        size = 2;
      }
    }
    const f = charFlags(cp);
    if ((f & CH_STABLE) !== 0) {
      for (let u = 0; u < size; u++) {
        units[k] = text.charCodeAt(i + u);
        srcStart[k] = i;
        srcEnd[k++] = i + size;
      }
      i += size;
      continue;
    }
    if ((f & CH_IGNORABLE) !== 0) {
      i += size;
      continue;
    }
    // A segment: a base and its marks. A mark right after a copied character joins it.
    let segStart = i;
    let segUnit = k;
    if ((f & CH_MARK) !== 0 && i > 0) {
      const back = copiedBefore(text, i);
      segStart -= back;
      segUnit -= back;
    }
    let j = i + size;
    while (j < len) {
      const d = text.codePointAt(j)!;
      if ((charFlags(d) & CH_MARK) === 0) break;
      j += d > 0xffff ? 2 : 1;
    }
    const out = segStart === i && j === i + size ? foldCodePoint(cp) : foldText(text.slice(segStart, j));
    k = segUnit;
    if (k + out.length + 2 > units.length) {
      buf.reserve(k + out.length + 2, k, true);
      ({ units, srcStart, srcEnd } = buf);
    }
    for (let u = 0; u < out.length; u++) {
      units[k] = out.charCodeAt(u);
      srcStart[k] = segStart;
      srcEnd[k++] = j;
    }
    i = j;
  }
  return { units, length: k, srcStart, srcEnd };
}

/**
 * How many units (= original units) the character before a mark at `i` was emitted as, alone:
 * the mark joins it. A character that gathers its marks (a segment of its own) is never right
 * before a mark the main loop meets, so the character before is ASCII, stable, or folded one
 * to one; 0 when it is an ignorable (the mark starts a segment of its own).
 */
function copiedBefore(text: string, i: number): number {
  const c = text.charCodeAt(i - 1);
  if (c < 0x80) return 1;
  if (c >= 0xdc00 && c <= 0xdfff && i >= 2) {
    const hi = text.charCodeAt(i - 2);
    if (hi >= 0xd800 && hi <= 0xdbff) return (charFlags((hi - 0xd800) * 0x400 + (c - 0xdc00) + 0x10000) & CH_STABLE) !== 0 ? 2 : 0;
  }
  return (charFlags(c) & (CH_IGNORABLE | CH_MARK)) === 0 ? 1 : 0;
}

/**
 * Where the last segment of `text` starts (a later combining mark would join it), or -1 when
 * the text is empty or ends with an ignorable character (nothing to join).
 */
export function lastSegmentStart(text: string): number {
  let j = text.length;
  while (j > 0) {
    let p = j - 1;
    const c = text.charCodeAt(p);
    if (c >= 0xdc00 && c <= 0xdfff && p > 0) {
      const hi = text.charCodeAt(p - 1);
      if (hi >= 0xd800 && hi <= 0xdbff) p--;
    }
    const f = charFlags(text.codePointAt(p)!);
    if ((f & CH_IGNORABLE) !== 0) return j === text.length ? -1 : j;
    if ((f & CH_MARK) === 0) return p;
    j = p;
  }
  return 0;
}

const termBuffers = new NormBuffers();

/** The normalised form of a term (the text it matches, before separators are dropped). */
export function normalizeTerm(term: string): string {
  const n = normalizeInto(term, termBuffers);
  return unitsToString(n.units, 0, n.length);
}

/**
 * A normalised term without the separator runs that stand between two word characters (the
 * form a `separators: true` list matches, and the key the automaton is built on).
 */
export function stripSeparators(normalized: string): string {
  const len = normalized.length;
  const units = new Uint16Array(len);
  for (let i = 0; i < len; i++) units[i] = normalized.charCodeAt(i);
  let out = '';
  let from = 0;
  for (let k = 0; k < len; k++) {
    if ((charFlags(units[k]!) & CH_SEPARATOR) === 0 || !isWordBefore(units, k)) continue;
    let j = k + 1;
    while (j < len && j - k <= MAX_SEPARATOR_RUN && (charFlags(units[j]!) & CH_SEPARATOR) !== 0) j++;
    if (j - k > MAX_SEPARATOR_RUN || j >= len || !isWordAt(units, j, len)) {
      k = j - 1;
      continue;
    }
    out += normalized.slice(from, k);
    from = j;
    k = j - 1;
  }
  return from === 0 ? normalized : out + normalized.slice(from);
}

/** Whether a term needs its composed characters kept whole across stream chunks (é, 한: NFD differs). */
export function hasComposedChars(normalized: string): boolean {
  return /[^\x00-\x7f]/.test(normalized) && normalized.normalize('NFD') !== normalized;
}

/** `units[from..to)` as a string. */
export function unitsToString(units: Uint16Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i += 4096) s += String.fromCharCode(...units.subarray(i, Math.min(to, i + 4096)));
  return s;
}
