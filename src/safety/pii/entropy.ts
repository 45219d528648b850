import type { Span } from './scan.js';

/** Settings of the generic high-entropy token detector. */
export interface EntropyOptions {
  /** Bits per character a base64-like token needs (default 4.0). */
  entropyThreshold?: number;
  /** Bits per character a single-case hex token needs (default 3.0). */
  hexEntropyThreshold?: number;
  /** Shortest token considered (default 20). */
  minEntropyLength?: number;
}

export const DEFAULT_ENTROPY_THRESHOLD = 4.0;
export const DEFAULT_HEX_ENTROPY_THRESHOLD = 3.0;
export const DEFAULT_MIN_ENTROPY_LENGTH = 20;

/** Shannon entropy of the string's character distribution, in bits per character. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Characters of base64, base64url and hex (`A-Za-z0-9+/_-`); `=` only as trailing padding. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-') TOKEN_CHAR[c.charCodeAt(0)] = 1;

/**
 * Maximal runs of token characters at least `min` long, with up to two `=` of padding. A
 * table-driven scan by hand: one pass, no regex engine, about as fast as the text can be read.
 */
function tokenRuns(text: string, min: number): Span[] {
  const out: Span[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    while (i < n && !isTokenChar(text.charCodeAt(i))) i++;
    const start = i;
    while (i < n && isTokenChar(text.charCodeAt(i))) i++;
    if (i - start < min) continue;
    let end = i;
    while (end < n && end - i < 2 && text.charCodeAt(end) === 61 /* = */) end++;
    out.push({ start, end });
    i = end;
  }
  return out;
}

/** `-`, `_`, `/`, `+` */
function isEdgeSeparator(c: number): boolean {
  return c === 45 || c === 95 || c === 47 || c === 43;
}

function isTokenChar(c: number): boolean {
  return c < 128 && TOKEN_CHAR[c] === 1;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^(?:[0-9a-f]+|[0-9A-F]+)$/;
/** Below it a token reads as words joined up (see classChangeRate). */
const MIN_CLASS_CHANGE_RATE = 0.25;

/**
 * Generic secrets: tokens of at least `minEntropyLength` base64/hex characters whose Shannon
 * entropy reaches the threshold. Deliberately not flagged:
 * - UUIDs (`8-4-4-4-12` hex): identifiers that apps and tools pass around, rarely secret,
 *   and redacting them breaks tool calls that name a resource;
 * - tokens lacking a digit, an upper-case and a lower-case letter (base64-like) or a digit
 *   and a letter (hex): English words, CONSTANT_NAMES, kebab-case, numbers;
 * - tokens whose letter case and digits change seldom, as in words joined up: camelCase
 *   identifiers, `snake_case_v2`, `Windows10ProfessionalEdition` (classChangeRate);
 * - paths (`/usr/lib/x86_64-linux-gnu`): a token with `/` whose segments are mostly words is
 *   judged segment by segment, so only a random-looking segment (a key in a URL) is flagged.
 * Hashes in hex (git SHAs, SHA-256) ARE flagged: they cannot be told from hex secrets.
 */
export function detectHighEntropy(text: string, opts: EntropyOptions = {}): Span[] {
  const o = {
    base64: opts.entropyThreshold ?? DEFAULT_ENTROPY_THRESHOLD,
    hex: opts.hexEntropyThreshold ?? DEFAULT_HEX_ENTROPY_THRESHOLD,
    min: Math.min(4096, Math.max(1, Math.floor(opts.minEntropyLength ?? DEFAULT_MIN_ENTROPY_LENGTH))),
  };
  const out: Span[] = [];
  for (const run of tokenRuns(text, o.min)) {
    // Separators at the edges are punctuation (`--flag`, `/path/`), not part of a token.
    let start = run.start;
    let end = run.end;
    while (start < end && isEdgeSeparator(text.charCodeAt(start))) start++;
    while (end > start && isEdgeSeparator(text.charCodeAt(end - 1))) end--;
    const token = text.slice(start, end);
    if (token.includes('/') && isPathLike(token)) {
      let at = 0;
      for (const seg of token.split('/')) {
        if (isSecretLike(seg, o)) out.push({ start: start + at, end: start + at + seg.length });
        at += seg.length + 1;
      }
    } else if (isSecretLike(token, o)) out.push({ start, end: start + token.length });
  }
  return out;
}

function isSecretLike(token: string, o: { base64: number; hex: number; min: number }): boolean {
  if (token.length < o.min || UUID.test(token)) return false;
  if (HEX.test(token)) return hexMix(token) && shannonEntropy(token) >= o.hex;
  if (!/\d/.test(token) || !/[a-z]/.test(token) || !/[A-Z]/.test(token)) return false;
  if (classChangeRate(token) < MIN_CLASS_CHANGE_RATE) return false;
  return shannonEntropy(token) >= o.base64;
}

/**
 * Random hex is about 5/8 digits and 3/8 letters; a long number with a letter or two in it
 * (`DE89370400440532013001`, an order code) is not a hash or a key.
 */
function hexMix(token: string): boolean {
  let letters = 0;
  for (let i = 0; i < token.length; i++) if (token.charCodeAt(i) > 57) letters++;
  const min = 0.15 * token.length;
  return letters >= min && token.length - letters >= min;
}

/**
 * How often the character class (lower, upper, digit) changes between neighbours, upper to
 * lower not counted (a capitalised word is one word) and separators (`-_+/=`) breaking the
 * chain. Random base64url: median 0.45, 1st percentile 0.21 at 20 chars and 0.24 at 32.
 * Identifiers change class only at word edges: in 3,000 identifiers of 20+ chars with digits
 * and both cases from TypeScript's own sources, median 0, 99th percentile 0.21, max 0.26.
 */
export function classChangeRate(token: string): number {
  let pairs = 0;
  let changes = 0;
  let prev = -1;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const cls = c >= 97 && c <= 122 ? 0 : c >= 65 && c <= 90 ? 1 : c >= 48 && c <= 57 ? 2 : -1;
    if (cls >= 0 && prev >= 0) {
      pairs++;
      if (cls !== prev && !(prev === 1 && cls === 0)) changes++;
    }
    prev = cls;
  }
  return pairs ? changes / pairs : 0;
}

/** At least half of the `/`-separated segments are words or empty: a path, not base64. */
function isPathLike(token: string): boolean {
  const segs = token.split('/');
  const wordy = segs.filter((s) => s === '' || /^[A-Za-z][a-z]+$|^[A-Z]+$|^[a-z0-9._-]+$/.test(s)).length;
  return wordy * 2 >= segs.length;
}
