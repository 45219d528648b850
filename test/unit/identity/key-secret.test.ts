import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeySecret, hashBytesEqual, hashKeySecret, hashesEqual, newKeyId, randomBase62, resolveKeySecret, visiblePrefix } from '../../../src/identity/key-secret.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'key-secret-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('hashing', () => {
  it('is HMAC-SHA-256 keyed with the server secret, as hex', () => {
    const expected = createHmac('sha256', 'server-secret-server-secret-0123').update('sk-rt-abc').digest('hex');
    expect(hashKeySecret('server-secret-server-secret-0123', 'sk-rt-abc')).toBe(expected);
    expect(hashKeySecret('another-server-secret-another-012', 'sk-rt-abc')).not.toBe(expected);
  });

  it('matches what the README tells operators to run with openssl', () => {
    let out: string;
    try {
      out = execFileSync('openssl', ['dgst', '-sha256', '-hmac', 'server-secret-server-secret-0123'], { input: 'sk-rt-abc' }).toString();
    } catch {
      return; // no openssl on this machine: the HMAC test above covers the arithmetic
    }
    expect(out.trim().split(/\s+/).pop()).toBe(hashKeySecret('server-secret-server-secret-0123', 'sk-rt-abc'));
  });

  it('is byte-identical to createHmac over random inputs (unicode, lone surrogates, empty, long keys and messages)', () => {
    const reference = (k: string, m: string) => createHmac('sha256', k).update(m, 'utf8').digest('hex');
    // Code units from every UTF-8 length class, plus unpaired surrogate halves (encoded as U+FFFD by both).
    const units = [0x00, 0x41, 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0x4e2d, 0xd83d, 0xde00, 0xdbff, 0xdfff, 0xfeff, 0xffff];
    const randomString = (max: number) => {
      const n = Math.floor(Math.random() * (max + 1));
      let out = '';
      for (let i = 0; i < n; i++) out += Math.random() < 0.5 ? String.fromCharCode(units[Math.floor(Math.random() * units.length)]!) : String.fromCharCode(32 + Math.floor(Math.random() * 95));
      return out;
    };
    const serverSecrets = [
      '',
      'x',
      'test-server-secret-0123456789abcdefghij',
      'a'.repeat(63),
      'a'.repeat(64), // exactly one block: used as is
      'a'.repeat(65), // longer than a block: hashed first
      'é'.repeat(40), // 40 characters, 80 bytes: longer than a block in UTF-8 only
      'ключ-сервера-🔑'.repeat(5),
      randomBytes(48).toString('base64url'),
      randomBytes(200).toString('base64'),
    ];
    for (let i = 0; i < 3000; i++) {
      const k = i < serverSecrets.length * 50 ? serverSecrets[i % serverSecrets.length]! : randomString(150);
      const m = i % 97 === 0 ? '' : randomString(i % 10 === 0 ? 1024 : 80);
      expect(hashKeySecret(k, m), JSON.stringify([k, m])).toBe(reference(k, m));
    }
    // Secrets past the preallocated buffer (over 1024 code units) and at its edge (1024 × 3 bytes).
    for (const m of ['x'.repeat(1025), '中'.repeat(1024), '中'.repeat(1025), '🔑'.repeat(512), '🔑'.repeat(600), `${'a'.repeat(1023)}\ud83d`]) {
      expect(hashKeySecret('test-server-secret-0123456789abcdefghij', m)).toBe(reference('test-server-secret-0123456789abcdefghij', m));
    }
    // Interleaved server secrets do not disturb each other's memoised pads; a long secret leaves no residue for a short one.
    for (let i = 0; i < 200; i++) {
      const k = serverSecrets[i % serverSecrets.length]!;
      const m = i % 2 ? 'sk-rt-long-'.repeat(50) : 'sk';
      expect(hashKeySecret(k, m)).toBe(reference(k, m));
    }
  });

  it('compares decoded hashes as hashesEqual compares hex ones', () => {
    const h = hashKeySecret('server-secret-server-secret-0123', 'x');
    const other = hashKeySecret('server-secret-server-secret-0123', 'y');
    for (const [a, b] of [[h, h], [h, other], [h, h.slice(0, 10)], ['', ''], [h, 'not hex'], [h.toUpperCase(), h]] as const) {
      expect(hashBytesEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'))).toBe(hashesEqual(a, b));
    }
  });

  it('compares hashes in constant time and never throws on odd input', () => {
    const h = hashKeySecret('server-secret-server-secret-0123', 'x');
    expect(hashesEqual(h, h)).toBe(true);
    expect(hashesEqual(h, hashKeySecret('server-secret-server-secret-0123', 'y'))).toBe(false);
    expect(hashesEqual(h, h.slice(0, 10))).toBe(false);
    expect(hashesEqual('', '')).toBe(false);
    expect(hashesEqual(h, 'not hex')).toBe(false);
  });
});

describe('secrets', () => {
  it('look like sk-rt-<id part><43 base62> with ≥ 256 bits of randomness', () => {
    const id = newKeyId();
    expect(id).toMatch(/^key_[0-9A-Za-z]{16}$/);
    const s = generateKeySecret(id);
    expect(s).toMatch(/^sk-rt-[0-9A-Za-z]{47}$/);
    expect(s.slice(6, 10)).toBe(id.slice(4, 8));
    expect(43 * Math.log2(62)).toBeGreaterThanOrEqual(255.9);
    expect(new Set(Array.from({ length: 200 }, () => generateKeySecret(id))).size).toBe(200);
  });

  it('base62 output uses the whole alphabet', () => {
    const s = randomBase62(20_000);
    expect(s).toHaveLength(20_000);
    expect(new Set(s).size).toBe(62);
  });

  it('show a 10-character prefix (none of it random), and at most a quarter of a chosen secret', () => {
    const s = generateKeySecret('key_ab12cdefghijklmn');
    expect(visiblePrefix(s)).toBe('sk-rt-ab12');
    expect(visiblePrefix('my-own-secret-of-16')).toBe('my-o');
    expect(visiblePrefix('a-much-longer-operator-chosen-secret-value')).toHaveLength(10);
  });
});

describe('resolveKeySecret', () => {
  it('uses the configured secret when given (value or getter)', () => {
    const file = path.join(tmp(), 'key-secret');
    const s = 'c'.repeat(40);
    expect(resolveKeySecret({ configured: s, file })).toBe(s);
    expect(resolveKeySecret({ configured: () => s, file })).toBe(s);
    expect(() => statSync(file)).toThrow();
  });

  it('refuses a configured secret that is too short', () => {
    expect(() => resolveKeySecret({ configured: 'short', file: path.join(tmp(), 'k') })).toThrow(/too short/);
  });

  it('generates one into the data dir with mode 0600, and reuses it next time', () => {
    const file = path.join(tmp(), 'sub', 'key-secret');
    const first = resolveKeySecret({ file });
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first);
    expect(resolveKeySecret({ file })).toBe(first);
    expect(resolveKeySecret({ configured: '', file })).toBe(first);
  });

  it('refuses a key-secret file readable by others', () => {
    const file = path.join(tmp(), 'key-secret');
    writeFileSync(file, 'x'.repeat(40));
    chmodSync(file, 0o644);
    expect(() => resolveKeySecret({ file })).toThrow(/chmod 600/);
  });
});
