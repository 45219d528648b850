import type { Direction, FilterType } from './decisions.js';

/**
 * A request refused by a content rule. The message names the category (a lexicon category or
 * a PII kind), never the text that matched: the app learns what rule, not what word.
 */
export class ContentPolicyViolation extends Error {
  constructor(
    readonly direction: Direction,
    readonly filter: FilterType,
    readonly category: string,
  ) {
    super(
      filter === 'lexicon'
        ? `The request was blocked by the content policy (category: ${category}).`
        : `The request was blocked by the content policy: it contains ${category === 'private_key' || isSecret(category) ? 'a secret' : 'personal data'} (kind: ${category}).`,
    );
    this.name = 'ContentPolicyViolation';
  }
}

const isSecret = (k: string) => ['openai_key', 'aws_access_key', 'github_token', 'private_key', 'jwt', 'high_entropy'].includes(k);
