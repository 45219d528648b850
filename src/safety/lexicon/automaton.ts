/**
 * One Aho-Corasick automaton over the terms of every list, in typed arrays (built by
 * automaton-builder.ts).
 *
 * Input units map to a dense symbol id (`symOf`, one read); the ASCII units of the terms come
 * first (1..denseWidth). States are numbered in depth order, and the first `denseRows` (the
 * shallowest, where a scan spends its time) have a full transition row over those ASCII
 * symbols with failure links resolved: one read a character. Elsewhere, the root's transitions
 * are a dense array by symbol (a CJK lexicon gives it thousands of children), a state with one
 * child keeps it inline (`edgeSym`/`edgeNext`), and states with several share one
 * open-addressing hash of (state, symbol), with failure links followed as usual. Dictionary
 * links are precomputed, so reporting visits only states that have entries.
 */

/** Set in `symOf` for separator units (symbols use the low 20 bits). */
export const SEP_BIT = 1 << 20;
export const SYM_MASK = SEP_BIT - 1;
/** `edgeSym` of a state with several children (look in the hash). */
export const MULTI = -1;
/** `edgeSym` of a leaf. */
export const NONE = -2;
/** `below`/`own` flags: a term of a word-boundary list; of a list that matches anywhere. */
export const TERM_BOUNDED = 1;
export const TERM_FREE = 2;

export interface Automaton {
  /** Code unit → symbol (0: in no term), with SEP_BIT for separators. */
  readonly symOf: Int32Array;
  /** Root transitions by symbol (0: stay at the root). */
  readonly rootNext: Int32Array;
  readonly edgeSym: Int32Array;
  readonly edgeNext: Int32Array;
  readonly hashState: Int32Array;
  readonly hashSym: Int32Array;
  readonly hashNext: Int32Array;
  readonly hashMask: number;
  readonly hashShift: number;
  readonly fail: Int32Array;
  /** Symbols 1..denseWidth are the terms' ASCII units. */
  readonly denseWidth: number;
  /** States 0..denseRows-1 have a row: next = dense[state * denseWidth + sym - 1]. */
  readonly denseRows: number;
  readonly dense: Int32Array;
  /** Nearest state on the failure chain that has entries of its own (0: none). */
  readonly dictLink: Int32Array;
  /** 1 when a state has entries or a dictionary link: the scanner's one test a unit. */
  readonly outFlag: Uint8Array;
  /** Entries of state s are outStart[s] .. outStart[s + 1]. */
  readonly outStart: Int32Array;
  readonly outList: Int32Array;
  /** The normalised term a list without separators must see verbatim, when it differs from the key. */
  readonly outExact: readonly (string | null)[];
  /** Key length of a state (= length of every term ending there). */
  readonly depth: Uint16Array;
  /** TERM_* flags of the terms strictly below a state (still in progress there). */
  readonly below: Uint8Array;
  /** TERM_* flags of the terms ending at a state. */
  readonly own: Uint8Array;
  readonly stateCount: number;
  readonly entryCount: number;
  /** Whether some key has a separator unit (c++, a.): separator runs then matter to a stream's tail. */
  readonly hasSeparatorKeys: boolean;
}

/** Slot of (state, symbol) in a table of 2^(32 - shift) slots. */
export const hashSlot = (state: number, sym: number, shift: number): number => Math.imul(state ^ Math.imul(sym, 0x27d4eb2d), 0x9e3779b1) >>> shift;

/** The goto function: the child of `s` by symbol `x`, or 0. */
export function childOf(a: Automaton, s: number, x: number): number {
  if (s === 0) return a.rootNext[x]!;
  const es = a.edgeSym[s]!;
  if (es === x) return a.edgeNext[s]!;
  if (es !== MULTI) return 0;
  for (let h = hashSlot(s, x, a.hashShift); ; h = (h + 1) & a.hashMask) {
    const hs = a.hashState[h]!;
    if (hs === s) {
      if (a.hashSym[h] === x) return a.hashNext[h]!;
    } else if (hs === 0) return 0;
  }
}

/** One transition, failure links included (the scanner inlines the same steps). */
export function step(a: Automaton, state: number, x: number): number {
  if (x === 0) return 0;
  for (let s = state; ; s = a.fail[s]!) {
    if (x <= a.denseWidth && s < a.denseRows) return a.dense[s * a.denseWidth + x - 1]!;
    const t = childOf(a, s, x);
    if (t !== 0 || s === 0) return t;
  }
}
