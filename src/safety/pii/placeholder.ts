import type { PiiKind } from './kinds.js';

/**
 * The label a kind's placeholders carry. Kinds a model has no use telling apart share one:
 * both IP versions are `IP`, every secret is `SECRET` (which kind of secret it was is
 * nothing the model needs, and naming it would say what leaked).
 */
export const PLACEHOLDER_LABELS: Record<PiiKind, string> = {
  email: 'EMAIL',
  phone: 'PHONE',
  card: 'CARD',
  iban: 'IBAN',
  cn_id: 'CN_ID',
  ipv4: 'IP',
  ipv6: 'IP',
  openai_key: 'SECRET',
  aws_access_key: 'SECRET',
  github_token: 'SECRET',
  private_key: 'SECRET',
  jwt: 'SECRET',
  high_entropy: 'SECRET',
};

const LABELS = [...new Set(Object.values(PLACEHOLDER_LABELS))];

/** Placeholder numbers run 1 … MAX_PLACEHOLDER_NUMBER (7 digits, no leading zero). */
export const MAX_PLACEHOLDER_NUMBER = 9_999_999;

/**
 * `<LABEL_n>`: upper case, an underscore, a number, in angle brackets. Models copy such
 * tokens verbatim, they read as "a value was here" and they survive JSON and Markdown.
 * The pattern is a closed alternation with bounded digits, so scanning is linear.
 */
export const PLACEHOLDER_RE = new RegExp(`<(${LABELS.join('|')})_([1-9]\\d{0,6})>`, 'g');

export function formatPlaceholder(label: string, n: number): string {
  return `<${label}_${n}>`;
}

/** The non-reversible placeholder used once the vault is full: `<EMAIL>`. */
export function anonymousPlaceholder(label: string): string {
  return `<${label}>`;
}

const MAX_PREFIX = 1 + Math.max(...LABELS.map((l) => l.length)) + 1 + 7;

/**
 * Whether `s` (starting with `<`) could still grow into a placeholder: `<`, `<EM`, `<EMAIL_`,
 * `<EMAIL_12`. A complete placeholder is not a prefix (it has its `>`).
 */
export function isPlaceholderPrefix(s: string): boolean {
  if (s.length === 0 || s.length > MAX_PREFIX || s[0] !== '<') return false;
  const rest = s.slice(1);
  for (const label of LABELS) {
    const head = `${label}_`;
    if (head.startsWith(rest)) return true;
    if (rest.startsWith(head) && /^[1-9]\d{0,6}$/.test(rest.slice(head.length))) return true;
  }
  return false;
}
