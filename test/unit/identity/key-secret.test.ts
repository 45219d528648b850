import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeySecret, hashKeySecret, hashesEqual, newKeyId, randomBase62, resolveKeySecret, visiblePrefix } from '../../../src/identity/key-secret.js';

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
