/**
 * The scan: normalise, run the automaton over the normalised units, and keep the matches each
 * list accepts, in original offsets.
 *
 * Separators: a run of at most MAX_SEPARATOR_RUN separators between two word characters is not
 * fed to the automaton (terms are keyed without such runs too). A list with `separators: true`
 * accepts every match; a list without accepts a match only when the normalised text it spans
 * is its term verbatim (so `bad` matches in `x.bad.y` but not in `b.a.d`, and `e-mail` matches
 * `e-mail` but not `email`).
 *
 * Word boundaries are decided on the normalised text with separators kept: the code points
 * just before and after a match must not be letters, digits or marks.
 *
 * With `final: false`, what is still undecided at the end of the text is left to the next scan
 * (scan-tail.ts says where that starts).
 */
import { MAX_SEPARATOR_RUN, isWordAt, isWordBefore } from './char-class.js';
import { MULTI, SEP_BIT, SYM_MASK, hashSlot, type Automaton } from './automaton.js';
import { NormBuffers, normalizeInto } from './normalize.js';
import type { LexiconHit, LexiconScan } from './lexicon.js';
import { openSegment, tailStartOf } from './scan-tail.js';

/** Most hits one scan collects: a text made of nested terms cannot make a scan allocate without bound. */
export const MAX_HITS = 65_536;

/** What the scanner needs of the lists, by list index. */
export interface ScanLists {
  readonly ids: readonly string[];
  readonly categories: readonly string[];
  readonly bounded: Uint8Array;
  readonly exact: Uint8Array;
}

/** Buffers above this many units are dropped after a scan rather than kept for the next. */
const RETAIN_UNITS = 1 << 20;
const norm = new NormBuffers();
let sToN = new Int32Array(1024);

/** Per-scan values the (rare) reporting and tail paths read. */
export interface ScanContext {
  readonly a: Automaton;
  readonly lists: ScanLists;
  readonly units: Uint16Array;
  readonly length: number;
  readonly srcStart: Int32Array | null;
  readonly srcEnd: Int32Array | null;
  readonly sToN: Int32Array;
  readonly final: boolean;
  readonly hits: LexiconHit[];
  /** Matches ending after this normalised unit end in an undecided last segment (length: none). */
  readonly openFrom: number;
  /** The character at this unit and after is not known yet (a chunk cut inside a surrogate pair): no right boundary there. */
  readonly knownTo: number;
  /** Smallest normalised start of a match not decided yet (length: none). */
  pending: number;
  /** MAX_HITS was reached: later matches were not collected. */
  truncated?: true;
}

export function scanText(a: Automaton, lists: ScanLists, text: string, final: boolean, hasComposed: boolean): LexiconScan {
  if (a.stateCount === 1) return { hits: [], tailStart: text.length };
  const n = normalizeInto(text, norm);
  const units = n.units;
  const len = n.length;
  if (sToN.length < len + MAX_SEPARATOR_RUN + 1) sToN = new Int32Array(Math.max(len + MAX_SEPARATOR_RUN + 1, sToN.length * 2));
  // The last segment may still change with the next chunk: matches that end in it wait, and
  // when it is held itself, the tail is computed from the state before it.
  const open = final ? undefined : openSegment(text, n, hasComposed);
  const segUnit = open?.held ? open.unit : -1;
  const ctx: ScanContext = {
    a,
    lists,
    units,
    length: len,
    srcStart: n.srcStart,
    srcEnd: n.srcEnd,
    sToN,
    final,
    hits: [],
    openFrom: open ? open.unit : len,
    knownTo: open?.cutPair ? open.unit : len,
    pending: len,
  };
  let split = segUnit >= 0 ? segUnit : len + 1;
  const knownTo = ctx.knownTo;

  const { symOf, rootNext, edgeSym, edgeNext, hashState, hashSym, hashNext, hashMask, hashShift, fail, outFlag, denseWidth, denseRows, dense } = a;
  const map = sToN;
  let state = 0;
  let sLen = 0;
  let snapState = -1;
  let snapLen = 0;
  let runStart = -1;
  let k = 0;
  while (k < len) {
    if (k >= split) {
      snapState = state;
      snapLen = sLen;
      split = len + 1;
    }
    let x = symOf[units[k]!]!;
    if (x >= SEP_BIT) {
      if (isWordBefore(units, k)) {
        let j = k + 1;
        while (j < len && j - k <= MAX_SEPARATOR_RUN && symOf[units[j]!]! >= SEP_BIT) j++;
        if (j - k <= MAX_SEPARATOR_RUN) {
          if (j < knownTo) {
            if (isWordAt(units, j, len)) {
              k = j; // skipped: a separator run between letters
              continue;
            }
          } else if (!final) {
            runStart = k; // undecided until the next character is known
            break;
          }
        }
      }
      x &= SYM_MASK;
    }
    if (x === 0) state = 0;
    else if (state < denseRows && x <= denseWidth) state = dense[state * denseWidth + x - 1]!;
    else {
      let s = state;
      for (;;) {
        if (s < denseRows && x <= denseWidth) {
          s = dense[s * denseWidth + x - 1]!;
          break;
        }
        if (s === 0) {
          s = rootNext[x]!;
          break;
        }
        const es = edgeSym[s]!;
        if (es === x) {
          s = edgeNext[s]!;
          break;
        }
        if (es === MULTI) {
          let t = 0;
          for (let h = hashSlot(s, x, hashShift); ; h = (h + 1) & hashMask) {
            const hs = hashState[h]!;
            if (hs === s) {
              if (hashSym[h] === x) {
                t = hashNext[h]!;
                break;
              }
            } else if (hs === 0) break;
          }
          if (t !== 0) {
            s = t;
            break;
          }
        }
        s = fail[s]!;
      }
      state = s;
    }
    map[sLen++] = k;
    if (outFlag[state] !== 0) report(ctx, state, k + 1, sLen);
    k++;
  }

  let hits = ctx.hits;
  // An expansion (ß → ss, ﬁ → fi) maps several normalised matches to one original range.
  if (n.srcStart && hits.length > 1) hits = dedupe(hits);
  if (hits.length > 1) hits.sort((p, q) => p.start - q.start || p.end - q.end);
  const tailStart = final ? text.length : tailStartOf(ctx, hits, { state, sLen, snapState, snapLen, runStart, segUnit });
  if (units.length > RETAIN_UNITS) norm.shrink(RETAIN_UNITS);
  if (sToN.length > RETAIN_UNITS) sToN = new Int32Array(1024);
  return ctx.truncated ? { hits, tailStart, truncated: true } : { hits, tailStart };
}

/** Reports the entries of `state` and of its dictionary links: matches ending at normalised `nEnd`. */
function report(ctx: ScanContext, state: number, nEnd: number, sLen: number): void {
  const { a, lists, units, length, sToN, srcStart, srcEnd } = ctx;
  let t = a.outStart[state + 1]! > a.outStart[state]! ? state : a.dictLink[state]!;
  while (t !== 0) {
    const d = a.depth[t]!;
    const nStart = sToN[sLen - d]!;
    const spans = nEnd - nStart !== d;
    for (let e = a.outStart[t]!, end = a.outStart[t + 1]!; e < end; e++) {
      const li = a.outList[e]!;
      if (lists.exact[li] === 1) {
        const exact = a.outExact[e];
        if (exact == null ? spans : !sameUnits(units, nStart, nEnd, exact)) continue;
      }
      if (nEnd > ctx.openFrom) {
        if (nStart < ctx.pending) ctx.pending = nStart;
        continue;
      }
      if (lists.bounded[li] === 1) {
        if (isWordBefore(units, nStart)) continue;
        if (nEnd < ctx.knownTo) {
          if (isWordAt(units, nEnd, length)) continue;
        } else if (!ctx.final) {
          if (nStart < ctx.pending) ctx.pending = nStart;
          continue;
        }
      }
      if (ctx.hits.length >= MAX_HITS) {
        ctx.truncated = true;
        continue;
      }
      ctx.hits.push({
        start: srcStart ? srcStart[nStart]! : nStart,
        end: srcEnd ? srcEnd[nEnd - 1]! : nEnd,
        listId: lists.ids[li]!,
        category: lists.categories[li]!,
      });
    }
    t = a.dictLink[t]!;
  }
}

function dedupe(hits: LexiconHit[]): LexiconHit[] {
  const seen = new Set<string>();
  return hits.filter((h) => {
    const key = `${h.start}:${h.end}:${h.listId}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sameUnits(units: Uint16Array, from: number, to: number, s: string): boolean {
  if (to - from !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (units[from + i] !== s.charCodeAt(i)) return false;
  return true;
}
