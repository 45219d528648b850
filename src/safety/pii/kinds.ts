/** Every kind of personal data or secret the detectors know, one detector each. */
export const PII_KINDS = [
  'email',
  'phone',
  'card',
  'iban',
  'cn_id',
  'ipv4',
  'ipv6',
  'openai_key',
  'aws_access_key',
  'github_token',
  'private_key',
  'jwt',
  'high_entropy',
] as const;

export type PiiKind = (typeof PII_KINDS)[number];

/** Group names accepted wherever a list of kinds is configured. */
export const PII_GROUPS: Record<'pii' | 'secrets', readonly PiiKind[]> = {
  pii: ['email', 'phone', 'card', 'iban', 'cn_id', 'ipv4', 'ipv6'],
  secrets: ['openai_key', 'aws_access_key', 'github_token', 'private_key', 'jwt', 'high_entropy'],
};

const KIND_SET: ReadonlySet<string> = new Set(PII_KINDS);

export function isPiiKind(name: string): name is PiiKind {
  return KIND_SET.has(name);
}

/**
 * Kinds and group names (`pii`, `secrets`) to kinds, deduplicated, in `PII_KINDS` order.
 * Throws an Error naming the first unknown name, so a config typo fails loudly.
 */
export function expandKinds(names: readonly string[]): PiiKind[] {
  const wanted = new Set<PiiKind>();
  for (const name of names) {
    if (name === 'pii' || name === 'secrets') for (const k of PII_GROUPS[name]) wanted.add(k);
    else if (isPiiKind(name)) wanted.add(name);
    else throw new Error(`unknown PII kind or group "${name}" (known: ${[...PII_KINDS, 'pii', 'secrets'].join(', ')})`);
  }
  return PII_KINDS.filter((k) => wanted.has(k));
}
