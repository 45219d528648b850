import { createHash, timingSafeEqual } from 'node:crypto';
import type { Identity } from './types.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * The legacy `auth.keys` list (plain strings) as identities `key-0`, `key-1`… with every
 * route and no limits, as before virtual keys. Comparison is constant time: each presented
 * secret is hashed and compared with every entry's hash, all of them, whichever matches.
 */
export function createStaticKeyMatcher(keys: readonly string[]): (candidate: string) => Identity | undefined {
  const digests = keys.map((k, i) => ({ id: `key-${i}`, d: digest(k) })).filter((_, i) => keys[i] !== '');
  return (candidate) => {
    if (!digests.length) return undefined;
    const c = digest(candidate);
    let found: string | undefined;
    for (const k of digests) if (timingSafeEqual(k.d, c)) found ??= k.id;
    return found === undefined ? undefined : { kind: 'static', keyId: found };
  };
}
