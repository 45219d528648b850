/**
 * List files: plain UTF-8 text, one term a line. Lines are trimmed; blank lines are skipped;
 * a line whose first character is `#` is a comment; so is the rest of a line from a `#` that
 * has whitespace before it and whitespace or the line's end after it (`bad  # slang`), which
 * leaves `#` inside terms alone (`c#`, `#tag`). A term that starts with `#` is written `\#`.
 * A UTF-8 BOM and CRLF line ends are accepted.
 */
import { readFile } from 'node:fs/promises';
import { LexiconError } from './lexicon-error.js';
import { normalizeTerm } from './normalize.js';

/** Longest term, in UTF-16 units, as written and after normalisation (NFKC can expand: ﷺ is 18 letters). */
export const MAX_TERM_LENGTH = 256;

const INLINE_COMMENT = /\s#(?:\s|$)/;
// Control characters other than tab; U+FFFD is what a broken UTF-8 byte decodes to.
const BAD_CHAR = /[\u0000-\u0008\u000A-\u001F\u007F\uFFFD]/;

/** Why `term` cannot be a lexicon term, or undefined when it can (`normalized`: its normalizeTerm, when known). */
export function termProblem(term: string, normalized?: string): string | undefined {
  const bad = BAD_CHAR.exec(term);
  if (bad) return bad[0] === '\uFFFD' ? 'has U+FFFD (a byte that was not UTF-8?)' : `has control character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  if (term.length > MAX_TERM_LENGTH) return `is ${term.length} characters long, more than ${MAX_TERM_LENGTH}`;
  normalized ??= normalizeTerm(term);
  if (!normalized) return 'is empty after normalisation (only invisible characters)';
  if (normalized.length > MAX_TERM_LENGTH) return `is ${normalized.length} characters long after normalisation, more than ${MAX_TERM_LENGTH}`;
  return undefined;
}

/** The terms of a list file's text. Throws a LexiconError naming `file` and the line of a bad term. */
export function parseLexiconFile(text: string, file: string): string[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r\n|\n|\r/);
  const terms: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    const comment = INLINE_COMMENT.exec(line);
    if (comment) line = line.slice(0, comment.index).trimEnd();
    if (line.startsWith('\\#')) line = line.slice(1);
    const problem = termProblem(line);
    if (problem) throw new LexiconError('lexicon_bad_term', `${file}:${i + 1}: the term ${problem}`, file, i + 1);
    terms.push(line);
  }
  return terms;
}

/** Reads and decodes a list file. Throws a LexiconError naming the file when it cannot be read or is not UTF-8. */
export async function readLexiconFile(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new LexiconError('lexicon_file_unreadable', `${file}: cannot read the lexicon file: ${(err as Error).message}`, file, undefined, { cause: err });
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    const loose = bytes.toString('utf8');
    const at = loose.indexOf('\uFFFD');
    const line = at < 0 ? undefined : loose.slice(0, at).split('\n').length;
    throw new LexiconError('lexicon_file_unreadable', `${file}${line ? `:${line}` : ''}: the lexicon file is not valid UTF-8`, file, line, { cause: err });
  }
}
