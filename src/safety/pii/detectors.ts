import { detectEmails } from './email-detector.js';
import { detectHighEntropy, type EntropyOptions } from './entropy.js';
import { detectIpv4, detectIpv6 } from './ip-detectors.js';
import type { PiiKind } from './kinds.js';
import { detectCards, detectCnIds, detectIbans } from './number-detectors.js';
import { detectPhones } from './phone-detector.js';
import type { Span } from './scan.js';
import { detectAwsAccessKeys, detectGithubTokens, detectJwts, detectOpenAiKeys, detectPrivateKeys } from './secret-detectors.js';

/** A detector returns spans in ascending order that do not overlap one another. */
export type Detector = (text: string, opts: EntropyOptions) => Span[];

/** One detector per kind. */
export const DETECTORS: Record<PiiKind, Detector> = {
  email: detectEmails,
  phone: detectPhones,
  card: detectCards,
  iban: detectIbans,
  cn_id: detectCnIds,
  ipv4: detectIpv4,
  ipv6: detectIpv6,
  openai_key: detectOpenAiKeys,
  aws_access_key: detectAwsAccessKeys,
  github_token: detectGithubTokens,
  private_key: detectPrivateKeys,
  jwt: detectJwts,
  high_entropy: detectHighEntropy,
};
