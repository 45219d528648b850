/** Why a lexicon could not be loaded or built. */
export type LexiconErrorCode =
  /** A list file could not be read (missing, permissions) or is not UTF-8. */
  | 'lexicon_file_unreadable'
  /** A line of a list file is not a valid term (control characters, too long, nothing left after normalisation). */
  | 'lexicon_bad_term'
  /** More terms over all lists than `maxTerms`. */
  | 'lexicon_too_many_terms';

/** A lexicon that cannot be loaded; the message names the file (and line) at fault. */
export class LexiconError extends Error {
  constructor(
    readonly code: LexiconErrorCode,
    message: string,
    /** The list file at fault, when there is one. */
    readonly file?: string,
    /** 1-based line in `file`, when known. */
    readonly line?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LexiconError';
  }
}
