import * as nodeCrypto from 'node:crypto';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Identity } from './types.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** One-shot `crypto.hash` (Node 20.12+), through the namespace so an older runtime falls back instead of failing to link. */
const oneShotHash: typeof nodeCrypto.hash | undefined = typeof nodeCrypto.hash === 'function' ? nodeCrypto.hash : undefined;

/**
 * The legacy `auth.keys` list (plain strings) as identities `key-0`, `key-1`… with every
 * route and no limits, as before virtual keys. Comparison is constant time: each presented
 * secret is hashed and compared with every entry's hash, all of them, whichever matches.
 */
export function createStaticKeyMatcher(keys: readonly string[]): (candidate: string) => Identity | undefined {
  // Identities are built once per list and frozen: every request of a key shares its one object.
  const digests = keys
    .map((k, i) => ({ identity: Object.freeze<Identity>({ kind: 'static', keyId: `key-${i}` }), d: digest(k) }))
    .filter((_, i) => keys[i] !== '');
  // The candidate's digest is written here (the matcher is synchronous, so one buffer serves every call).
  const scratch = Buffer.alloc(32);
  return (candidate) => {
    if (!digests.length) return undefined;
    // A one-shot hex digest decoded into the scratch buffer is cheaper than a Hash object, or a Buffer-valued one-shot.
    const c = oneShotHash === undefined ? digest(candidate) : (scratch.write(oneShotHash('sha256', candidate, 'hex'), 0, 'hex'), scratch);
    let found: Identity | undefined;
    for (const k of digests) if (timingSafeEqual(k.d, c)) found ??= k.identity;
    return found;
  };
}
