/**
 * Where a stream's undecided tail starts (`tailStart` of a scan with `final: false`): the
 * earliest start of
 * - the states on the failure chain of the automaton's last state that are a proper prefix of
 *   a term, skipping those whose terms all need a word boundary the character before denies;
 * - a match that waits for its right boundary, or ends in the last character (a mark in the
 *   next chunk may still change that character, or join its range);
 * - a trailing separator run still undecided (whether it is skipped depends on what follows):
 *   what would be in progress were it fed, and the run itself when some term has separators;
 * - the last character itself when it is a letter and the lexicon has composed characters
 *   (e + ◌́ is é), or when the chunk cut a surrogate pair;
 * and no reported hit crosses it. Invisible characters just before it are held back too, so
 * that the last character a caller releases is a visible one: the left context the caller
 * puts before the next scan.
 */
import { SYM_MASK, TERM_FREE, step } from './automaton.js';
import { isWordAt, isWordBefore } from './char-class.js';
import { lastSegmentStart, type NormalizedText } from './normalize.js';
import type { LexiconHit } from './lexicon.js';
import type { ScanContext } from './scanner.js';

/** The last segment of a non-final text, which the next chunk may still change. */
export interface OpenSegment {
  /** Its first normalised unit. */
  unit: number;
  /** The chunk ends inside a surrogate pair: the character is not known yet (𝐁 is b). */
  cutPair: boolean;
  /** Held back itself (and the tail computed from the state before it). */
  held: boolean;
}

export function openSegment(text: string, n: NormalizedText, hasComposed: boolean): OpenSegment | undefined {
  if (n.length === 0) return undefined;
  const last = text.charCodeAt(text.length - 1);
  const cutPair = last >= 0xd800 && last <= 0xdbff;
  const start = cutPair ? text.length - 1 : lastSegmentStart(text);
  if (start < 0) return undefined; // ends with an invisible character: nothing to join
  const unit = unitAtOrAfter(n.srcStart, n.length, start);
  if (unit >= n.length) return undefined;
  // Marks compose with letters only (é, 한); a space or a dot followed by one stays itself.
  return { unit, cutPair, held: cutPair || (hasComposed && isWordAt(n.units, unit, n.length)) };
}

/** Where the scan stopped, for the tail. */
export interface ScanEnd {
  state: number;
  sLen: number;
  /** The state and key length before the held open segment (-1: not taken). */
  snapState: number;
  snapLen: number;
  /** Normalised start of a trailing separator run the scan stopped at (-1: none). */
  runStart: number;
  /** The held open segment's first unit (-1: none). */
  segUnit: number;
}

export function tailStartOf(ctx: ScanContext, hits: readonly LexiconHit[], end: ScanEnd): number {
  const { a, units, length } = ctx;
  // The state at a pending run (the loop stopped before it) is earlier than the snapshot.
  const snapped = end.snapState >= 0;
  let best = Math.min(ctx.pending, inProgressStart(ctx, snapped ? end.snapState : end.state, snapped ? end.snapLen : end.sLen, false));
  if (end.segUnit >= 0) best = Math.min(best, end.segUnit);
  if (end.runStart >= 0) {
    // A term with separators of its own could match in the run if it is not skipped: hold the
    // run, so that the next scan sees the letter before it.
    if (a.hasSeparatorKeys) best = Math.min(best, end.runStart);
    let s = end.state;
    let sl = end.sLen;
    for (let r = end.runStart; r < length; r++) {
      s = step(a, s, a.symOf[units[r]!]! & SYM_MASK);
      ctx.sToN[sl++] = r;
      best = Math.min(best, inProgressStart(ctx, s, sl, true));
    }
  }
  let cut = cutBefore(ctx, best);
  // A hit that would cross the cut is held whole. By start descending, one pass suffices: a
  // lowered cut only reaches hits that start earlier.
  for (let h = hits.length - 1; h >= 0; h--) {
    const hit = hits[h]!;
    if (hit.start < cut && hit.end > cut) {
      best = Math.min(best, unitAtOrAfter(ctx.srcStart, length, hit.start));
      cut = cutBefore(ctx, best);
    }
  }
  return cut;
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
  if (!srcStart || !srcEnd) return k;
  // From the first unit of k's segment (ﬁ → f, i), back to the end of the segment before.
  let first = k;
  while (first > 0 && srcStart[first - 1] === srcStart[k]) first--;
  return first === 0 ? 0 : srcEnd[first - 1]!;
}

/** First normalised unit whose source starts at or after original offset `at`. */
function unitAtOrAfter(srcStart: Int32Array | null, length: number, at: number): number {
  if (!srcStart) return Math.min(at, length);
  let k = length;
  while (k > 0 && srcStart[k - 1]! >= at) k--;
  return k;
}
