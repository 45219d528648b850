import { regexSpans, type Span } from './scan.js';

/**
 * OpenAI API keys: `sk-`, `sk-proj-`, `sk-svcacct-`, `sk-admin-` and 20+ base64url chars that
 * mix upper case, lower case and digits (real keys are random; `sk-learn-…` or
 * `sk-xxxxxxxx…` placeholders are not). One greedy class run: linear.
 */
const OPENAI_KEY = /(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g;

export function detectOpenAiKeys(text: string): Span[] {
  return regexSpans(OPENAI_KEY, text, (m) => mixedCase(m[0].slice(3)));
}

function mixedCase(s: string): boolean {
  return /\d/.test(s) && /[a-z]/.test(s) && /[A-Z]/.test(s);
}

/** AWS access key ids, long-term (`AKIA`) and temporary (`ASIA`): 20 upper-case alphanumerics. */
const AWS_ACCESS_KEY = /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;

export function detectAwsAccessKeys(text: string): Span[] {
  return regexSpans(AWS_ACCESS_KEY, text);
}

/**
 * GitHub tokens: classic `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36 alphanumerics (GitHub may
 * lengthen them to 255 in all), and fine-grained `github_pat_…`.
 */
const GITHUB_TOKEN = /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])/g;

export function detectGithubTokens(text: string): Span[] {
  return regexSpans(GITHUB_TOKEN, text);
}

/**
 * JWTs (JWS compact form): three base64url segments, the header starting `eyJ` (`{"`) and
 * decoding to JSON with an `alg`, `typ` or `kid` member; the signature may be empty (`alg: none`).
 * Each segment's class excludes `.`, and a match may start only at a segment start: linear.
 */
const JWT = /(?<![\w.-])eyJ[A-Za-z0-9_-]{12,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;

export function detectJwts(text: string): Span[] {
  return regexSpans(JWT, text, (m) => {
    const header = Buffer.from(m[0].slice(0, m[0].indexOf('.')), 'base64url').toString('latin1');
    return header.startsWith('{"') && /"(?:alg|typ|kid)"/.test(header);
  });
}

/** PEM / OpenSSH / PGP private key armour lines. */
const KEY_LABEL = '(?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----';
const BEGIN = new RegExp(`-----BEGIN ${KEY_LABEL}`, 'g');
const END = new RegExp(`-----END ${KEY_LABEL}`, 'g');
/** Longest block taken: an RSA 16384-bit PEM key is about 12 KB. */
export const MAX_PRIVATE_KEY_CHARS = 16_384;

/**
 * Private key blocks from `-----BEGIN … PRIVATE KEY-----` to the matching END line. Without an
 * END within `MAX_PRIVATE_KEY_CHARS` (a truncated paste), the BEGIN line and the body lines
 * after it (PEM headers, then base64 lines, the first at least 40 chars long, up to and with the
 * first short one) are taken instead.
 */
export function detectPrivateKeys(text: string): Span[] {
  const out: Span[] = [];
  // The next END at or after some position: found once and reused, so many BEGINs and no END
  // cost one scan of the text, not one each.
  let nextEnd: { start: number; end: number } | null | undefined;
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(text); m; m = BEGIN.exec(text)) {
    const start = m.index;
    const headEnd = start + m[0].length;
    if (nextEnd !== null && (nextEnd === undefined || nextEnd.start < headEnd)) {
      END.lastIndex = headEnd;
      const e = END.exec(text);
      nextEnd = e ? { start: e.index, end: e.index + e[0].length } : null;
    }
    const end = nextEnd && nextEnd.end - start <= MAX_PRIVATE_KEY_CHARS ? nextEnd.end : unterminatedEnd(text, headEnd, start);
    out.push({ start, end });
    BEGIN.lastIndex = end;
  }
  return out;
}

const BASE64_LINE = /^[A-Za-z0-9+/=]{1,80}$/;
const MIN_FIRST_BODY_LINE = 40;
const PEM_HEADER = /^[A-Za-z][A-Za-z0-9-]*: [\x20-\x7e]*$/;
const LINE_BREAKS = ['\r\n', '\n', '\\n', ' '] as const;

function unterminatedEnd(text: string, headEnd: number, start: number): number {
  const limit = Math.min(text.length, start + MAX_PRIVATE_KEY_CHARS);
  // The body's line break is whatever follows the BEGIN line: a newline, a JSON-escaped `\n`
  // (a key pasted inside a string literal) or a space (a key flattened onto one line).
  const br = LINE_BREAKS.find((b) => text.startsWith(b, headEnd));
  if (!br) return headEnd;
  let end = headEnd;
  let body = false;
  for (let at = headEnd; at + br.length <= limit && text.startsWith(br, at); ) {
    const from = at + br.length;
    // Searched in a substring so that a missing line break costs at most `limit`, per block.
    const rel = text.substring(from, limit).indexOf(br);
    const to = rel < 0 ? limit : from + rel;
    const line = text.slice(from, to);
    // A first body line is a full one (64 chars, 70 in OpenSSH keys) unless the paste was cut
    // inside it; a short first "line" is more likely a word (`BEGIN … KEY----- alone`).
    if (BASE64_LINE.test(line) && (body || line.length >= MIN_FIRST_BODY_LINE)) {
      body = true;
      end = to;
      if (line.length < 64) break;
    } else if (!body && (PEM_HEADER.test(line) || line === '')) {
      end = to;
    } else break;
    at = to;
  }
  return end;
}
