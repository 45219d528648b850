/** A span of a string, UTF-16 offsets, end exclusive. */
export interface Span {
  start: number;
  end: number;
}

/** `0-9` */
export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `A-Z` or `a-z` */
export function isAsciiLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** `A-Za-z0-9` */
export function isAlnum(c: number): boolean {
  return isDigit(c) || isAsciiLetter(c);
}

/** `\w` in a JS regex: `A-Za-z0-9_` */
export function isWordChar(c: number): boolean {
  return isAlnum(c) || c === 95;
}

/**
 * Runs a global regex over text and keeps the matches `accept` approves (all when absent).
 * Scanning resumes after each match, accepted or not: every pattern here is anchored by
 * lookbehind so that no valid match can start inside a rejected one.
 */
export function regexSpans(re: RegExp, text: string, accept?: (m: RegExpExecArray) => boolean): Span[] {
  const out: Span[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (!accept || accept(m)) out.push({ start: m.index, end: m.index + m[0].length });
    if (m[0].length === 0) re.lastIndex++;
  }
  return out;
}
