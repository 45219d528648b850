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
 * Streaming (`final: false`): `tailStart` is where the earliest match that could still
 * complete starts: the states on the failure chain of the automaton's last state that are a
 * proper prefix of a term (skipping those whose terms all need a word boundary the character
 * before them already denies), a match at the very end that waits for its right boundary, a
 * trailing separator run still undecided, and, when the lexicon has composed characters, the
 * last segment (a mark in the next chunk may still join it). Invisible characters just before
 * that point are held back too, so that the last character a caller releases is a visible one:
 * the left context the caller puts before the next scan.
 */
import { MAX_SEPARATOR_RUN, isWordAt, isWordBefore } from './char-class.js';
import { MULTI, SEP_BIT, SYM_MASK, TERM_FREE, hashSlot, step, type Automaton } from './automaton.js';
import { NormBuffers, lastSegmentStart, normalizeInto } from './normalize.js';
import type { LexiconHit, LexiconScan } from './lexicon.js';

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

/** Per-scan values the (rare) reporting path reads. */
interface ScanContext {
  readonly a: Automaton;
  readonly lists: ScanLists;
  readonly units: Uint16Array;
  readonly length: number;
  readonly srcStart: Int32Array | null;
  readonly srcEnd: Int32Array | null;
  readonly sToN: Int32Array;
  readonly final: boolean;
  readonly hits: LexiconHit[];
  /** Smallest normalised start of a match waiting for its right boundary (length: none). */
  pending: number;
}

export function scanText(a: Automaton, lists: ScanLists, text: string, final: boolean, hasComposed: boolean): LexiconScan {
  if (a.stateCount === 1) return { hits: [], tailStart: text.length };
  const n = normalizeInto(text, norm);
  const units = n.units;
  const len = n.length;
  if (sToN.length < len + MAX_SEPARATOR_RUN + 1) sToN = new Int32Array(Math.max(len + MAX_SEPARATOR_RUN + 1, sToN.length * 2));
  const ctx: ScanContext = { a, lists, units, length: len, srcStart: n.srcStart, srcEnd: n.srcEnd, sToN, final, hits: [], pending: len };

  // The last segment may still change when a mark follows in the next chunk: note the state
  // before it.
  let segUnit = -1;
  if (!final && len > 0 && (hasComposed || endsWithHighSurrogate(text))) {
    const seg = lastSegmentStart(text);
    if (seg >= 0) segUnit = unitAtOrAfter(n.srcStart, len, seg);
    if (segUnit >= len) segUnit = -1;
  }
  let split = segUnit >= 0 ? segUnit : len + 1;

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
          if (j < len) {
            if (isWordAt(units, j, len)) {
              k = j; // skipped: a separator run between letters
              continue;
            }
          } else if (!final) {
            runStart = k; // undecided until the next character arrives
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

  const hits = ctx.hits;
  if (hits.length > 1) hits.sort((p, q) => p.start - q.start || p.end - q.end);
  let tailStart = text.length;
  if (!final) {
    // The state at a pending run (the loop stopped before it) is earlier than the snapshot.
    const tailState = snapState >= 0 ? snapState : state;
    const tailLen = snapState >= 0 ? snapLen : sLen;
    let best = Math.min(ctx.pending, inProgressStart(ctx, tailState, tailLen, false));
    if (segUnit >= 0) best = Math.min(best, segUnit);
    if (runStart >= 0) {
      // Were the run not skipped, it would be fed: what could be in progress then.
      let s = state;
      let sl = sLen;
      for (let r = runStart; r < len; r++) {
        s = step(a, s, symOf[units[r]!]! & SYM_MASK);
        map[sl++] = r;
      }
      best = Math.min(best, inProgressStart(ctx, s, sl, true));
    }
    tailStart = cutBefore(ctx, best);
  }
  if (units.length > RETAIN_UNITS) norm.shrink(RETAIN_UNITS);
  if (sToN.length > RETAIN_UNITS) sToN = new Int32Array(1024);
  return { hits, tailStart };
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
      if (lists.bounded[li] === 1) {
        if (isWordBefore(units, nStart)) continue;
        if (nEnd < length) {
          if (isWordAt(units, nEnd, length)) continue;
        } else if (!ctx.final) {
          if (nStart < ctx.pending) ctx.pending = nStart;
          continue;
        }
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

function sameUnits(units: Uint16Array, from: number, to: number, s: string): boolean {
  if (to - from !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (units[from + i] !== s.charCodeAt(i)) return false;
  return true;
}

/**
 * The normalised start of the longest suffix on the failure chain of `state` that may still
 * grow into an accepted match (`withOwn`: terms ending right there count too), or `length`.
 */
function inProgressStart(ctx: ScanContext, state: number, sLen: number, withOwn: boolean): number {
  const { a, units } = ctx;
  for (let s = state; s !== 0; s = a.fail[s]!) {
    const f = a.below[s]! | (withOwn ? a.own[s]! : 0);
    if (f === 0) continue;
    const nStart = ctx.sToN[sLen - a.depth[s]!]!;
    if ((f & TERM_FREE) !== 0 || !isWordBefore(units, nStart)) return nStart;
  }
  return ctx.length;
}

/** The original offset to hold back from for normalised unit `k`: invisible characters before it included. */
function cutBefore(ctx: ScanContext, k: number): number {
  const { srcStart, srcEnd, length } = ctx;
  if (k >= length) {
    if (length === 0) return 0;
    return srcEnd ? srcEnd[length - 1]! : length;
  }
  const start = srcStart ? srcStart[k]! : k;
  if (k === 0) return 0;
  const prevEnd = srcEnd ? srcEnd[k - 1]! : k;
  return prevEnd <= start ? prevEnd : start;
}

/** First normalised unit whose source starts at or after original offset `at`. */
function unitAtOrAfter(srcStart: Int32Array | null, length: number, at: number): number {
  if (!srcStart) return Math.min(at, length);
  let k = length;
  while (k > 0 && srcStart[k - 1]! >= at) k--;
  return k;
}

function endsWithHighSurrogate(text: string): boolean {
  const c = text.charCodeAt(text.length - 1);
  return c >= 0xd800 && c <= 0xdbff;
}
