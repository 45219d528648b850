import { isAlnum, type Span } from './scan.js';

/** Local part characters taken: a practical subset of RFC 5322 atext, so `key=a@b.io` yields `a@b.io`. */
function isLocalChar(c: number): boolean {
  return isAlnum(c) || c === 46 /* . */ || c === 95 /* _ */ || c === 37 /* % */ || c === 43 /* + */ || c === 45 /* - */;
}

function isDomainChar(c: number): boolean {
  return isAlnum(c) || c === 46 || c === 45;
}

/** `icon@2x.png` is a file name, not an address: no such TLDs exist. */
const FILE_TLDS: ReadonlySet<string> = new Set(['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'bmp', 'avif']);

/**
 * Email addresses, ASCII only. Scans from each `@` outwards by hand instead of a regex: the
 * walk left stops at the previous `@` (or the previous match) and the walk right at the next
 * `@`, so every character is visited a bounded number of times whatever the input.
 * Local part 1–64 chars, domain ≤ 253 chars of ≥ 2 labels (1–63 chars, no edge hyphen) whose
 * last label is alphabetic (or `xn--…`). A trailing dot or hyphen is left out (end of sentence).
 */
export function detectEmails(text: string): Span[] {
  const out: Span[] = [];
  let floor = 0;
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    let s = at;
    while (s > floor && isLocalChar(text.charCodeAt(s - 1))) s--;
    while (s < at && text.charCodeAt(s) === 46) s++;
    if (s === at || at - s > 64) continue;
    let e = at + 1;
    while (e < text.length && isDomainChar(text.charCodeAt(e))) e++;
    const end = domainEnd(text, at + 1, e);
    if (end < 0) continue;
    out.push({ start: s, end });
    floor = end;
    at = end - 1;
  }
  return out;
}

/** End of the valid domain in text[from, to), or -1. */
function domainEnd(text: string, from: number, to: number): number {
  let end = to;
  while (end > from && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--;
  let domain = text.slice(from, end);
  const dots = domain.indexOf('..');
  if (dots >= 0) domain = domain.slice(0, dots);
  if (domain.length > 253 || domain.length < 3) return -1;
  const labels = domain.split('.');
  if (labels.length < 2) return -1;
  for (const l of labels) {
    if (l.length === 0 || l.length > 63 || l.startsWith('-') || l.endsWith('-')) return -1;
  }
  const tld = labels[labels.length - 1]!;
  const alphaTld = /^[A-Za-z]{2,63}$/.test(tld) && !FILE_TLDS.has(tld.toLowerCase());
  if (!alphaTld && !/^xn--[A-Za-z0-9-]+$/i.test(tld)) return -1;
  return from + domain.length;
}
