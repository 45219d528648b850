import { isWordChar, regexSpans, type Span } from './scan.js';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';

/**
 * Dotted quads with octets 0–255 and no leading zeros (`01.2.3.4` is ambiguous, often octal).
 * Not part of a longer dotted run (`1.2.3.4.5` is a version, `999.1.1.1` no address).
 */
const IPV4 = new RegExp(`(?<![\\w.])(?:${OCTET}\\.){3}${OCTET}(?![\\w]|\\.\\d)`, 'g');

export function detectIpv4(text: string): Span[] {
  return regexSpans(IPV4, text);
}

/** The longest textual IPv6 address: 6 hex groups and a dotted quad. */
const MAX_IPV6_LEN = 45;

/** Hex digits, `:` and `.`: what an IPv6 address is written with. */
function isIpv6Char(c: number): boolean {
  return (c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46;
}

/**
 * IPv6 in full, compressed (`::`) and IPv4-embedded forms (RFC 4291 §2.2). From each colon
 * the run of address characters around it is taken (each char is walked at most twice) and
 * parsed once. A run needs 8 groups or one `::`, so times (`12:30:45`) and MAC addresses never
 * parse; a run without any decimal digit is left alone too (`dead::beef`, `a::b` are code far
 * more often than addresses).
 */
export function detectIpv6(text: string): Span[] {
  const out: Span[] = [];
  let floor = 0;
  for (let colon = text.indexOf(':'); colon >= 0; colon = text.indexOf(':', floor)) {
    let runStart = colon;
    while (runStart > floor && isIpv6Char(text.charCodeAt(runStart - 1))) runStart--;
    let runEnd = colon + 1;
    while (runEnd < text.length && isIpv6Char(text.charCodeAt(runEnd))) runEnd++;
    floor = runEnd;
    let start = runStart;
    // `Note:fe80::1`: the run began inside a word; the address starts after its first colon.
    if (start > 0 && isWordChar(text.charCodeAt(start - 1))) start = colon + 1;
    const end = start + trimmedIpv6Length(text.slice(start, runEnd));
    if (end === start) continue;
    if (end === runEnd && end < text.length && isWordChar(text.charCodeAt(end))) continue;
    out.push({ start, end });
  }
  return out;
}

/** Length of the IPv6 address that `run` is, allowing trailing sentence punctuation; 0 if none. */
function trimmedIpv6Length(run: string): number {
  let len = run.length;
  if (len > MAX_IPV6_LEN + 2) return 0;
  for (let tries = 0; tries < 3 && len >= 2; tries++) {
    const candidate = run.slice(0, len);
    if (isIpv6(candidate)) return len;
    const last = candidate[len - 1];
    if (last !== '.' && last !== ':') return 0;
    len--;
  }
  return 0;
}

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const DOTTED_QUAD = new RegExp(`^(?:${OCTET}\\.){3}${OCTET}$`);

/** RFC 4291 text form, with at least one decimal digit somewhere. */
export function isIpv6(s: string): boolean {
  if (s.length < 2 || s.length > MAX_IPV6_LEN || !/\d/.test(s)) return false;
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return false;
  const head = dbl >= 0 ? s.slice(0, dbl) : s;
  const tail = dbl >= 0 ? s.slice(dbl + 2) : '';
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const all = [...headGroups, ...tailGroups];
  let units = 0;
  for (let i = 0; i < all.length; i++) {
    const g = all[i]!;
    if (HEX_GROUP.test(g)) units += 1;
    else if (i === all.length - 1 && DOTTED_QUAD.test(g)) units += 2;
    else return false;
  }
  return dbl >= 0 ? units <= 7 : units === 8;
}
