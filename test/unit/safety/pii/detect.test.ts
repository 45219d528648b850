import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectPii, PII_PRIORITY, resolveOverlaps, type PiiFinding } from '../../../../src/safety/pii/detect.js';
import { PII_KINDS } from '../../../../src/safety/pii/kinds.js';
import { found } from './find.js';

const B64_64 = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC9hIZqKKvo3ubbO';
const jwt = [
  Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url'),
  Buffer.from('{"sub":"1234567890"}').toString('base64url'),
  's_pzIAKkFDF96bWlo6hiAERA2uqy3hTYvu7jc1D6SWE',
].join('.');

describe('detectPii', () => {
  it('runs only the kinds asked for', () => {
    const text = 'mail a@b.io from 10.0.0.1';
    expect(found(text, ['email'])).toEqual(['email:a@b.io']);
    expect(found(text, ['ipv4'])).toEqual(['ipv4:10.0.0.1']);
    expect(found(text, [])).toEqual([]);
  });

  it('a structure wins over what sits inside it', () => {
    const block = `-----BEGIN PRIVATE KEY-----\n${B64_64}\n-----END PRIVATE KEY-----`;
    expect(found(`k ${block} k`)).toEqual([`private_key:${block}`]);
    expect(found(`Bearer ${jwt}`)).toEqual([`jwt:${jwt}`]);
    const key = ['sk', 'proj', '3OkF5QNCrC82SF70AVWC7UcZX7WM7cbRkbuEi3McBqVxPKhI'].join('-');
    expect(found(`key ${key}`)).toEqual([`openai_key:${key}`]);
    expect(found('9hIZqKKvo3ubbOytkKbLWRpxVswrZ@example.com')).toEqual(['email:9hIZqKKvo3ubbOytkKbLWRpxVswrZ@example.com']);
  });

  it('an 18-digit number passing both the ID and the Luhn check is a cn_id', () => {
    expect(found('440308199001010252', ['card'])).toEqual(['card:440308199001010252']);
    expect(found('440308199001010252')).toEqual(['cn_id:440308199001010252']);
  });

  it('drops a losing finding whole rather than trimming it', () => {
    expect(found('+86.10.123.45', ['phone', 'ipv4'])).toEqual(['phone:+86.10.123.45']);
  });

  it('returns sorted, disjoint findings within the text for any mix of fragments', () => {
    const fragments = [
      'a@b.io', '+44 20 7946 0958', '13800138000', '4111 1111 1111 1111', 'DE89 3704 0044 0532 0130 00', '11010519491231002X',
      '10.0.0.1', 'fe80::1', jwt, '9hIZqKKvo3ubbO/ytkKbLWRpxVswrZKy9fKxmbgM', '-----BEGIN PRIVATE KEY-----', '\n', ' ', '.', ':', '-', '@', '1', 'a', 'Z', '<', '=',
    ];
    const all = new Set(PII_KINDS);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...fragments), { maxLength: 30 }), (parts) => {
        const text = parts.join('');
        const findings = detectPii(text, all);
        let at = 0;
        for (const f of findings) {
          expect(f.start).toBeGreaterThanOrEqual(at);
          expect(f.end).toBeGreaterThan(f.start);
          at = f.end;
        }
        expect(at).toBeLessThanOrEqual(text.length);
        // Each finding is one its own detector makes when alone.
        for (const f of findings) {
          expect(detectPii(text, new Set([f.kind]))).toContainEqual(f);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('resolveOverlaps', () => {
  const f = (kind: PiiFinding['kind'], start: number, end: number): PiiFinding => ({ kind, start, end });

  it('keeps the higher priority, then the longer, then the earlier', () => {
    expect(resolveOverlaps([f('high_entropy', 0, 10), f('email', 5, 8)], 10)).toEqual([f('email', 5, 8)]);
    expect(resolveOverlaps([f('phone', 0, 4), f('phone', 2, 9)], 10)).toEqual([f('phone', 2, 9)]);
    expect(resolveOverlaps([f('phone', 4, 8), f('phone', 0, 4), f('phone', 2, 6)], 10)).toEqual([f('phone', 0, 4), f('phone', 4, 8)]);
    expect(resolveOverlaps([f('ipv4', 6, 9), f('ipv4', 0, 3), f('email', 2, 7)], 10)).toEqual([f('email', 2, 7)]);
  });

  it('follows PII_PRIORITY for every pair of kinds', () => {
    for (let i = 0; i < PII_PRIORITY.length; i++) {
      for (let j = i + 1; j < PII_PRIORITY.length; j++) {
        const hi = PII_PRIORITY[i]!;
        const lo = PII_PRIORITY[j]!;
        expect(resolveOverlaps([f(lo, 0, 20), f(hi, 5, 6)], 20)).toEqual([f(hi, 5, 6)]);
      }
    }
    expect([...PII_PRIORITY].sort()).toEqual([...PII_KINDS].sort());
  });
});
