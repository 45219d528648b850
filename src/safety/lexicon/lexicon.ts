/**
 * The lexicon: operators' word lists, compiled into one automaton, scanned over prompts and
 * answers. A lexicon is immutable: a reload builds a new one (`loadLexicon`) while the old one
 * keeps serving, and the caller swaps the reference.
 *
 * Matching is on normalised text (normalize.ts: NFKC, lower case, ß → ss, invisible characters
 * removed), per list with or without word boundaries and separators (scanner.ts); hits are in
 * offsets of the original text.
 */
import type { Automaton } from './automaton.js';
import { AutomatonBuilder } from './automaton-builder.js';
import { SEPARATORS } from './char-class.js';
import { LexiconError } from './lexicon-error.js';
import { MAX_TERM_LENGTH, parseLexiconFile, readLexiconFile, termProblem } from './lexicon-file.js';
import { hasComposedChars, normalizeTerm, stripSeparators } from './normalize.js';
import { scanText, type ScanLists } from './scanner.js';

export { MAX_TERM_LENGTH, parseLexiconFile } from './lexicon-file.js';
export { LexiconError, type LexiconErrorCode } from './lexicon-error.js';

/** Default cap on the terms of all lists together. */
export const DEFAULT_MAX_TERMS = 1_000_000;

export interface LexiconListSpec {
  /** The list's id (config key); reported in hits. */
  id: string;
  /** The category rules name (politics, adult, ...). */
  category: string;
  /** Absolute path of the list file. */
  file: string;
  /** Match whole words only: no letter, digit or mark may touch the match. False for CJK lists. */
  wordBoundary: boolean;
  /** Also match terms with separators between their letters (b.a.d, b-a-d, b_a_d, b*a*d). */
  separators: boolean;
}

export interface LexiconList {
  spec: LexiconListSpec;
  terms: readonly string[];
}

/** A match: original-text UTF-16 offsets, end exclusive. */
export interface LexiconHit {
  start: number;
  end: number;
  listId: string;
  category: string;
}

export { MAX_HITS } from './scanner.js';

export interface LexiconScan {
  /** Every match of every list (overlapping and nested ones too), by start, then end. */
  hits: LexiconHit[];
  /** More than MAX_HITS matches: `hits` holds the first ones only (callers refuse such a text). */
  truncated?: true;
  /**
   * With `final: false`: where the earliest match still in progress could start (text from
   * here on must be held back and scanned again with what follows); invisible characters just
   * before it are included, and no hit crosses it (a hit that would is held whole). Hits
   * starting at or after it are found again by that rescan. `text.length` when nothing is
   * pending (less only when the text ends with invisible characters). With `final: true`:
   * always `text.length`.
   */
  tailStart: number;
}

export interface Lexicon {
  /**
   * Scans `text`. `final` (default true): the text is complete, so a match at its very end has
   * its right boundary. For a stream, scan with `final: false` and, next time, put the last
   * code point released before the held tail: it is the left context of a word boundary.
   */
  scan(text: string, opts?: { final?: boolean }): LexiconScan;
  /** Distinct terms (per list, after normalisation). */
  readonly termCount: number;
  readonly lists: readonly LexiconListSpec[];
}

export interface LexiconOptions {
  /** Cap on the terms of all lists together (before duplicates are merged); default DEFAULT_MAX_TERMS. */
  maxTerms?: number;
}

class CompiledLexicon implements Lexicon {
  constructor(
    private readonly automaton: Automaton,
    private readonly scanLists: ScanLists,
    private readonly hasComposed: boolean,
    readonly lists: readonly LexiconListSpec[],
  ) {}

  get termCount(): number {
    return this.automaton.entryCount;
  }

  scan(text: string, opts?: { final?: boolean }): LexiconScan {
    return scanText(this.automaton, this.scanLists, text, opts?.final ?? true, this.hasComposed);
  }
}

/** Compiles lists term by term; `add` may be called in slices so a loader can yield in between. */
class LexiconCompiler {
  private readonly builder: AutomatonBuilder;
  private readonly specs: LexiconListSpec[];
  private readonly bounded: Uint8Array;
  private readonly exact: Uint8Array;
  private hasComposed = false;
  private total = 0;

  constructor(
    specs: readonly LexiconListSpec[],
    private readonly maxTerms: number,
  ) {
    this.specs = specs.map((s) => ({ ...s }));
    this.bounded = Uint8Array.from(specs, (s) => (s.wordBoundary ? 1 : 0));
    this.exact = Uint8Array.from(specs, (s) => (s.separators ? 0 : 1));
    this.builder = new AutomatonBuilder(this.exact, this.bounded, SEPARATORS.map((c) => c.charCodeAt(0)));
  }

  /** Counts a list's terms against maxTerms before any of them is built. */
  count(list: number, terms: number): void {
    this.total += terms;
    if (this.total > this.maxTerms) {
      const spec = this.specs[list]!;
      throw new LexiconError('lexicon_too_many_terms', `${spec.file}: list "${spec.id}" brings the lexicon to ${this.total} terms, more than maxTerms (${this.maxTerms})`, spec.file);
    }
  }

  /** Adds `terms[from..to)` of list `list`; `checked`: they come from parseLexiconFile. */
  add(list: number, terms: readonly string[], from: number, to: number, checked: boolean): void {
    const spec = this.specs[list]!;
    for (let i = from; i < to; i++) {
      const term = terms[i]!;
      const full = term.length <= MAX_TERM_LENGTH ? normalizeTerm(term) : '';
      const problem = checked ? undefined : termProblem(term, full);
      if (problem) throw new LexiconError('lexicon_bad_term', `${spec.file}: term ${i + 1} of list "${spec.id}" ${problem}`, spec.file);
      const key = stripSeparators(full);
      if (!this.hasComposed && hasComposedChars(full)) this.hasComposed = true;
      this.builder.add(key, list, key === full ? null : full);
    }
  }

  finish(): Lexicon {
    const scanLists: ScanLists = { ids: this.specs.map((s) => s.id), categories: this.specs.map((s) => s.category), bounded: this.bounded, exact: this.exact };
    return new CompiledLexicon(this.builder.finish(), scanLists, this.hasComposed, this.specs);
  }
}

/** Builds a lexicon from lists in memory. Throws a LexiconError for a bad term or too many terms. */
export function buildLexicon(lists: readonly LexiconList[], opts?: LexiconOptions): Lexicon {
  const compiler = new LexiconCompiler(
    lists.map((l) => l.spec),
    opts?.maxTerms ?? DEFAULT_MAX_TERMS,
  );
  lists.forEach((l, i) => compiler.count(i, l.terms.length));
  lists.forEach((l, i) => compiler.add(i, l.terms, 0, l.terms.length, false));
  return compiler.finish();
}

/** Terms compiled between two yields to the event loop. */
const SLICE = 20_000;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Reads the list files (in parallel), parses and compiles them, yielding to the event loop
 * every SLICE terms. Throws a LexiconError naming the file (and line) at fault.
 */
export async function loadLexicon(specs: readonly LexiconListSpec[], opts?: LexiconOptions): Promise<Lexicon> {
  const texts = await Promise.all(specs.map((s) => readLexiconFile(s.file)));
  const compiler = new LexiconCompiler(specs, opts?.maxTerms ?? DEFAULT_MAX_TERMS);
  const lists: string[][] = [];
  for (let i = 0; i < specs.length; i++) {
    const terms = parseLexiconFile(texts[i]!, specs[i]!.file);
    compiler.count(i, terms.length);
    lists.push(terms);
  }
  for (let i = 0; i < lists.length; i++) {
    const terms = lists[i]!;
    for (let from = 0; from < terms.length; from += SLICE) {
      await yieldToLoop();
      compiler.add(i, terms, from, Math.min(terms.length, from + SLICE), true);
    }
  }
  await yieldToLoop();
  return compiler.finish();
}
