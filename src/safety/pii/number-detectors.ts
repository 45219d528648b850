import { cnIdValid, IBAN_LENGTHS, ibanValid, luhnValid } from './checksums.js';
import { isAlnum, regexSpans, type Span } from './scan.js';

/**
 * 13–19 digits starting 2–6 (Mastercard 2/5, Amex and JCB 3, Visa 4, Discover and UnionPay 6),
 * optionally grouped by spaces or dashes. No digit or letter may touch it and no digit may be
 * joined to it by a dash; a space is a soft edge, so a card followed by its expiry or CVV
 * (`4111 1111 1111 1111 12/27`) is still found. Bounded quantifiers over single digits: linear.
 */
const CARD = /(?<![\w]|\d-)[2-6]\d{3}(?:[ -]?\d){9,15}(?![\w]|-\d)/g;

/** Grouping as printed on cards: 4 digits first, then groups of 3–6 (the last may be shorter). */
function cardGroupsPlausible(groups: readonly string[]): boolean {
  if (groups.length === 1) return true;
  if (groups[0]!.length !== 4) return false;
  return groups.every((g, i) => (i === groups.length - 1 ? g.length <= 6 : g.length >= 3 && g.length <= 6));
}

/**
 * Payment card numbers that pass Luhn and look grouped like a card. When the longest reading
 * fails, shorter ones ending at a space-separated group are tried (`… 1111 123`: a card and a CVV).
 */
export function detectCards(text: string): Span[] {
  const out: Span[] = [];
  CARD.lastIndex = 0;
  for (let m = CARD.exec(text); m; m = CARD.exec(text)) {
    const raw = m[0];
    const sep = /[ -]/.exec(raw)?.[0];
    const groups = sep ? raw.split(sep) : [raw];
    if (groups.some((g) => !/^\d+$/.test(g))) continue; // mixed separators
    for (let n = groups.length; n >= 1; n--) {
      const head = groups.slice(0, n);
      const digits = head.join('');
      if (digits.length < 13) break;
      if (n < groups.length && sep !== ' ') break;
      if (cardGroupsPlausible(head) && luhnValid(digits)) {
        const end = m.index + head.join(sep ?? '').length;
        out.push({ start: m.index, end });
        CARD.lastIndex = end;
        break;
      }
    }
  }
  return out;
}

/** Anchor for an IBAN: country code and check digits at a word start; the rest is read by hand. */
const IBAN_HEAD = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}/g;

/**
 * IBANs in upper case, compact (`DE89370400440532013000`) or printed in groups of four
 * (`DE89 3704 0044 0532 0130 00`): exactly the registry length for the country, then mod-97.
 */
export function detectIbans(text: string): Span[] {
  const out: Span[] = [];
  IBAN_HEAD.lastIndex = 0;
  for (let m = IBAN_HEAD.exec(text); m; m = IBAN_HEAD.exec(text)) {
    const len = IBAN_LENGTHS.get(m[0].slice(0, 2));
    if (len === undefined) continue;
    const end = ibanEnd(text, m.index, len);
    if (end < 0) continue;
    out.push({ start: m.index, end });
    IBAN_HEAD.lastIndex = end;
  }
  return out;
}

function ibanEnd(text: string, start: number, len: number): number {
  let i = start + 4;
  const spaced = text.charCodeAt(i) === 32;
  let compact = text.slice(start, i);
  for (let n = 4; n < len; n++) {
    if (spaced && n % 4 === 0) {
      if (text.charCodeAt(i) !== 32) return -1;
      i++;
    }
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90))) return -1;
    compact += text[i];
    i++;
  }
  if (i < text.length && isAlnum(text.charCodeAt(i))) return -1;
  return ibanValid(compact) ? i : -1;
}

/** 17 digits and a check digit or X, not inside a longer word or number. */
const CN_ID = /(?<![\w])\d{17}[\dXx](?![\w])/g;

/** Mainland China resident ID numbers (18 chars) with a valid date and mod 11-2 check. */
export function detectCnIds(text: string): Span[] {
  return regexSpans(CN_ID, text, (m) => cnIdValid(m[0]));
}
