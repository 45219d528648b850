import { isDigit, isWordChar, regexSpans, type Span } from './scan.js';

/**
 * Mainland China mobile: `1[3-9]` + 9 digits, as 11 digits or 3-4-4 with spaces or dashes,
 * with an optional `+86` / `0086` / `(+86)` prefix. The lookarounds keep it out of longer
 * numbers: no word character next to it, and no digit joined to it by a dash or dot
 * (`138-0013-8000-12` is something else). A space does not join: `13800138000 13900139000`
 * is a list, and card numbers are grouped in fours, so no 3-4-4 or 11-digit run sits in one.
 */
const CN_MOBILE = /(?<![\w+]|\d[.-])(?:(?:\+|00)86[ -]?|\(\+?86\)[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![\w]|[.-]\d)/g;

/**
 * Mainland China landline: area code `0` + 2–3 digits, then a dash or space (or the area
 * code in parentheses), then a 7–8 digit local number not starting 0, optional `-ext`.
 */
const CN_LANDLINE = /(?<![\w+]|\d[.-])(?:\(0\d{2,3}\)[ -]?|0\d{2,3}[ -])[1-9]\d{6,7}(?:-\d{1,5})?(?![\w]|[.-]\d)/g;

const MIN_INTL_DIGITS = 9;
const MAX_INTL_DIGITS = 15;

/** Phone numbers: international `+CC …` (E.164-ish) and mainland China formats. */
export function detectPhones(text: string): Span[] {
  const spans = [...detectInternational(text), ...regexSpans(CN_MOBILE, text), ...regexSpans(CN_LANDLINE, text)];
  // The scanners can find the same number (`+86 138 0013 8000`); detectPii resolves the overlaps
  // but a detector promises ordered, disjoint spans, so keep the longest of each cluster here.
  return disjoint(spans);
}

/**
 * `+` then a country code not starting with 0, then digit groups joined by one space, dash
 * or dot, or wrapped in parentheses (`+1 (415) 555-2671`, `+44 (0)20 7946 0958`,
 * `(+44) 20 7946 0958`); 9–15 digits in all. Scanned by hand: a regex with optional
 * separators between variable-length digit groups backtracks exponentially on a digit run.
 */
function detectInternational(text: string): Span[] {
  const out: Span[] = [];
  for (let plus = text.indexOf('+'); plus >= 0; plus = text.indexOf('+', plus + 1)) {
    const before = plus > 0 ? text.charCodeAt(plus - 1) : -1;
    if (before >= 0 && (isWordChar(before) || before === 43)) continue;
    // `(+44) 20 7946 0958`: the country code in parentheses.
    const paren = before === 40;
    const end = internationalEnd(text, plus + 1, paren);
    if (end > 0) {
      out.push({ start: paren ? plus - 1 : plus, end });
      plus = end - 1;
    }
  }
  return out;
}

function isSeparator(c: number): boolean {
  return c === 32 || c === 45 || c === 46;
}

function internationalEnd(text: string, from: number, openParen: boolean): number {
  const at = (i: number): number => (i < text.length ? text.charCodeAt(i) : -1);
  let i = from;
  if (!isDigit(at(i)) || at(i) === 48) return -1;
  let digits = 0;
  let inParen = openParen;
  let end = -1;
  for (;;) {
    while (isDigit(at(i))) {
      if (++digits > MAX_INTL_DIGITS) return -1;
      i++;
    }
    end = i;
    let j = i;
    if (inParen) {
      if (at(j) !== 41 /* ) */) break;
      inParen = false;
      j++;
    }
    if (isSeparator(at(j))) j++;
    if (at(j) === 40 /* ( */) {
      inParen = true;
      j++;
    }
    if (j === i || !isDigit(at(j))) break;
    i = j;
  }
  if (digits < MIN_INTL_DIGITS || isWordChar(at(end))) return -1;
  return end;
}

/** Sorted, and of overlapping spans only the longest (then the first) kept. */
function disjoint(spans: Span[]): Span[] {
  if (spans.length < 2) return spans;
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Span[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (!last || s.start >= last.end) out.push(s);
    else if (s.end - s.start > last.end - last.start) out[out.length - 1] = s;
  }
  return out;
}
