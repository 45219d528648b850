import { createHash } from 'node:crypto';

/**
 * A short fixed-length tag of an owner (`identity.keyId`) for keys: a key id may hold any
 * character (`jwt:<subject>`), a tag only base64url ones, and its fixed length keeps
 * `<tag><sep><id>` unambiguous. 128 bits of SHA-256; the stores still compare the stored
 * owner itself, so even a collision would never hand one caller another's session.
 */
export function ownerTag(owner: string): string {
  return createHash('sha256').update(owner, 'utf8').digest('base64url').slice(0, 22);
}
