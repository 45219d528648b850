import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPlaceholderPrefix } from '../../../../src/safety/pii/placeholder.js';
import { PlaceholderVault } from '../../../../src/safety/pii/vault.js';

function vaultWith(): PlaceholderVault {
  const vault = new PlaceholderVault();
  vault.placeholderFor('email', 'ana@example.com');
  vault.placeholderFor('phone', '+44 20 7946 0958');
  for (let i = 0; i < 11; i++) vault.placeholderFor('cn_id', `id-${i}`); // up to <CN_ID_11>
  return vault;
}

function streamed(vault: PlaceholderVault, chunks: readonly string[]): { out: string; released: string[] } {
  const r = vault.streamRestorer();
  const released = chunks.map((c) => r.push(c));
  released.push(r.end());
  return { out: released.join(''), released };
}

describe('streamRestorer', () => {
  const answer = 'Dear <EMAIL_1>, we call <PHONE_1> about <CN_ID_11>; not <EMAIL_9> or <EMAIL> or a < b.';
  const restored = 'Dear ana@example.com, we call +44 20 7946 0958 about id-10; not <EMAIL_9> or <EMAIL> or a < b.';

  it('gives exactly the restored text when the answer is cut at any one position', () => {
    const vault = vaultWith();
    expect(vault.restore(answer)).toBe(restored);
    for (let i = 0; i <= answer.length; i++) {
      expect(streamed(vault, [answer.slice(0, i), answer.slice(i)]).out, `cut at ${i}`).toBe(restored);
    }
  });

  it('gives exactly the restored text when cut at any two positions', () => {
    const vault = vaultWith();
    const text = 'x <CN_ID_11> y <EMAIL_1>';
    const want = vault.restore(text);
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        expect(streamed(vault, [text.slice(0, i), text.slice(i, j), text.slice(j)]).out).toBe(want);
      }
    }
  });

  it('one char a chunk', () => {
    const vault = vaultWith();
    expect(streamed(vault, [...answer]).out).toBe(restored);
  });

  it('holds back only a possible placeholder start, and releases it once it cannot be one', () => {
    const vault = vaultWith();
    const r = vault.streamRestorer();
    expect(r.push('Hello <EMA')).toBe('Hello ');
    expect(r.push('IL_1')).toBe('');
    expect(r.push('> and <b>bold</b> <')).toBe('ana@example.com and <b>bold</b> ');
    expect(r.push('x')).toBe('<x');
    expect(r.push('<EMAIL_1')).toBe('');
    expect(r.end()).toBe('<EMAIL_1');
  });

  it('random chunkings of random answers restore like the whole', () => {
    const vault = vaultWith();
    const piece = fc.constantFrom('<EMAIL_1>', '<PHONE_1>', '<CN_ID_11>', '<CN_ID_1>', '<EMAIL_', '<', '>', 'EMAIL', '_1', ' ', 'text');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 8 }), (parts, cutsRaw) => {
        const text = parts.join('');
        const cuts = [...new Set(cutsRaw.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let at = 0;
        for (const c of cuts) {
          chunks.push(text.slice(at, c));
          at = c;
        }
        chunks.push(text.slice(at));
        expect(streamed(vault, chunks).out).toBe(vault.restore(text));
      }),
      { numRuns: 500 },
    );
  });
});

describe('isPlaceholderPrefix', () => {
  it('is true for what can still grow into <LABEL_n>', () => {
    for (const s of ['<', '<E', '<EMAIL', '<EMAIL_', '<EMAIL_1', '<CN_', '<CN_ID_12', '<SECRET_1234567', '<IP_9']) expect(isPlaceholderPrefix(s), s).toBe(true);
  });

  it('is false for complete placeholders and what can no longer become one', () => {
    for (const s of ['', 'E', '<EMAIL_1>', '<EMAIL_0', '<EMAILS', '<email', '<EMAIL_12345678', '<SECRET_12345678', '<x', '< ']) {
      expect(isPlaceholderPrefix(s), s).toBe(false);
    }
  });
});
