import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The server secret every virtual-key hash is keyed with, and the helpers around it. Stored
 * hashes are HMAC-SHA-256(server secret, key secret): a leaked store (file, Redis dump) does not
 * let anyone check guesses offline without the server secret too. All instances sharing one
 * store must share this secret, or each one refuses the others' keys.
 */

/** Shortest server secret accepted: 32 characters (≥ 192 bits even as base64). */
export const MIN_KEY_SECRET_LENGTH = 32;

/** Where the server secret comes from. */
export interface KeySecretSource {
  /** `auth.keySecret` after `${ENV}` interpolation (a string), or a getter for it; wins when set. */
  configured?: string | (() => string | undefined);
  /** Where a generated secret is kept when none is configured, normally `<dataDir>/key-secret`. */
  file: string;
}

/**
 * The server secret: the configured one, else the one in `file`, else a new random one written
 * there (mode 0600, created exclusively so two instances starting at once on a shared volume
 * both end up with the first one written). A file readable by group or others is refused: it
 * is as sensitive as every key it protects.
 */
export function resolveKeySecret(source: KeySecretSource): string {
  const configured = typeof source.configured === 'function' ? source.configured() : source.configured;
  if (configured !== undefined && configured !== '') {
    if (configured.length < MIN_KEY_SECRET_LENGTH) throw new Error(`auth.keySecret is too short: at least ${MIN_KEY_SECRET_LENGTH} characters are needed`);
    return configured;
  }
  const file = source.file;
  try {
    return readSecretFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const generated = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, `${generated}\n`, { mode: 0o600, flag: 'wx' });
    // The umask may have cleared bits but never adds them; chmod anyway in case the fs ignores `mode`.
    chmodSync(file, 0o600);
    return generated;
  } catch (err) {
    // Another instance wrote it first: use theirs, so both hash alike.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readSecretFile(file);
    throw err;
  }
}

function readSecretFile(file: string): string {
  const st = statSync(file);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new Error(`${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
  }
  const text = readFileSync(file, 'utf8').trim();
  if (text.length < MIN_KEY_SECRET_LENGTH) throw new Error(`${file} holds a key secret shorter than ${MIN_KEY_SECRET_LENGTH} characters`);
  return text;
}

/**
 * One-shot `crypto.hash` (Node 20.12+), read through the namespace so an older runtime gets
 * undefined (and the createHmac path) rather than a link error.
 */
const oneShotHash: typeof nodeCrypto.hash | undefined = typeof nodeCrypto.hash === 'function' ? nodeCrypto.hash : undefined;

/** SHA-256's block size: HMAC pads its key to this. */
const HMAC_BLOCK = 64;
/**
 * Longest key secret (in UTF-16 code units) hashed through the preallocated buffer: a code
 * unit is at most 3 UTF-8 bytes, so the buffer is sized for 3 bytes each. Longer ones (none
 * that `authenticate` accepts) take createHmac.
 */
const SCRATCH_CHARS = 1024;
/** Distinct server secrets memoised; there is normally one per process (tests use a few). */
const MAX_MEMOISED_SERVER_SECRETS = 8;

/** A server secret's RFC 2104 padded keys, computed once, each in a buffer with room for what is hashed after it. */
interface HmacPads {
  /** K ⊕ ipad in bytes 0‥63; the key secret's UTF-8 is written after it, hashed, then zeroed. */
  inner: Buffer;
  /** K ⊕ opad in bytes 0‥63; the 32-byte inner digest goes in 64‥95. */
  outer: Buffer;
}
const padsByServerSecret = new Map<string, HmacPads>();

function hmacPads(serverSecret: string): HmacPads {
  const known = padsByServerSecret.get(serverSecret);
  if (known) return known;
  // RFC 2104: a key longer than the block is replaced by its hash; a shorter one is zero-padded.
  let key = Buffer.from(serverSecret, 'utf8');
  if (key.length > HMAC_BLOCK) key = createHash('sha256').update(key).digest();
  const inner = Buffer.alloc(HMAC_BLOCK + SCRATCH_CHARS * 3);
  const outer = Buffer.alloc(HMAC_BLOCK + 32);
  for (let i = 0; i < HMAC_BLOCK; i++) {
    const b = key[i] ?? 0;
    inner[i] = b ^ 0x36;
    outer[i] = b ^ 0x5c;
  }
  key.fill(0);
  if (padsByServerSecret.size >= MAX_MEMOISED_SERVER_SECRETS) padsByServerSecret.clear();
  const pads = { inner, outer };
  padsByServerSecret.set(serverSecret, pads);
  return pads;
}

/**
 * HMAC-SHA-256(server secret, key secret) as hex: what a KeyRecord stores. Same as `openssl dgst -sha256 -hmac`.
 *
 * On the hot path (every request) this is H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)) from two one-shot
 * hashes over buffers whose padded-key halves are computed once per server secret: creating an
 * Hmac object per call (and re-deriving the pads from the key each time) was most of the cost.
 * The output is byte-identical to createHmac (test/unit/identity/key-secret.test.ts checks it
 * over random inputs). The buffers are shared, which is safe because this is synchronous; the
 * key secret's bytes are zeroed before returning, so no plaintext outlives the call.
 */
export function hashKeySecret(serverSecret: string, secret: string): string {
  if (oneShotHash === undefined || secret.length > SCRATCH_CHARS) return createHmac('sha256', serverSecret).update(secret, 'utf8').digest('hex');
  const { inner, outer } = hmacPads(serverSecret);
  const n = inner.write(secret, HMAC_BLOCK, 'utf8');
  // 'hex' output: a Buffer output costs more (a new Buffer from native code) than decoding 64 hex digits below.
  const innerHex = oneShotHash('sha256', inner.subarray(0, HMAC_BLOCK + n), 'hex');
  inner.fill(0, HMAC_BLOCK, HMAC_BLOCK + n);
  outer.write(innerHex, HMAC_BLOCK, 'hex');
  return oneShotHash('sha256', outer, 'hex');
}

/** Constant-time equality of two hex hashes (false, not a throw, when the lengths differ). */
export function hashesEqual(a: string, b: string): boolean {
  return hashBytesEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/**
 * hashesEqual on hashes already decoded from hex (`Buffer.from(hex, 'hex')`), for callers that
 * decode a stored hash once and compare it on every request.
 */
export function hashBytesEqual(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * `n` uniformly random base62 characters. Bytes ≥ 248 are dropped (248 = 4 × 62) so `% 62`
 * has no bias; base62 because it survives double-click selection, URLs and shells unquoted.
 */
export function randomBase62(n: number): string {
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n + 8)) {
      if (b < 248) out += BASE62[b % 62];
      if (out.length === n) break;
    }
  }
  return out;
}

/** Literal start of every generated key secret. */
export const SECRET_PREFIX = 'sk-rt-';
/** Random characters of a generated secret: 43 × log2(62) ≈ 256 bits of entropy. */
const SECRET_RANDOM_CHARS = 43;
/** Characters of the visible prefix: "sk-rt-" and four more. */
const VISIBLE_PREFIX_CHARS = 10;

/** A new key id, `key_` and 16 base62 characters (≈ 95 bits: ids never collide in practice). */
export function newKeyId(): string {
  return `key_${randomBase62(16)}`;
}

/**
 * A new secret for key `id`: `sk-rt-` + the first four characters of the id's random part (so
 * the visible prefix points an operator at the key) + 43 random characters.
 */
export function generateKeySecret(id: string): string {
  const idPart = (id.startsWith('key_') ? id.slice(4) : id).replace(/[^A-Za-z0-9]/g, '').slice(0, 4).padEnd(4, '0');
  return `${SECRET_PREFIX}${idPart}${randomBase62(SECRET_RANDOM_CHARS)}`;
}

/**
 * What operators may see of a secret. Generated secrets show 10 characters (`sk-rt-ab12`, none
 * of them random); a secret chosen by an operator shows at most a quarter of itself, so a short
 * one is not mostly given away.
 */
export function visiblePrefix(secret: string): string {
  if (secret.startsWith(SECRET_PREFIX) && secret.length >= SECRET_PREFIX.length + 4 + 32) return secret.slice(0, VISIBLE_PREFIX_CHARS);
  return secret.slice(0, Math.min(VISIBLE_PREFIX_CHARS, Math.floor(secret.length / 4)));
}
