import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectPii } from '../../../../src/safety/pii/detect.js';
import { PII_KINDS } from '../../../../src/safety/pii/kinds.js';
import { PlaceholderVault, redactedLabel } from '../../../../src/safety/pii/vault.js';

const all = new Set(PII_KINDS);
const redact = (vault: PlaceholderVault, text: string) => vault.redact(text, detectPii(text, all));

describe('PlaceholderVault', () => {
  it('redacts with numbered placeholders per label and restores the exact text', () => {
    const vault = new PlaceholderVault();
    const text = 'Mail ana@example.com or bob@example.org, call +44 20 7946 0958, card 4111 1111 1111 1111, host 10.0.0.1 and fe80::1.';
    const red = redact(vault, text);
    expect(red).toBe('Mail <EMAIL_1> or <EMAIL_2>, call <PHONE_1>, card <CARD_1>, host <IP_1> and <IP_2>.');
    expect(vault.size).toBe(6);
    expect(vault.restore(red)).toBe(text);
  });

  it('gives the same value the same placeholder, across calls and texts', () => {
    const vault = new PlaceholderVault();
    expect(redact(vault, 'a@b.io, c@d.io, a@b.io')).toBe('<EMAIL_1>, <EMAIL_2>, <EMAIL_1>');
    expect(redact(vault, 'again c@d.io')).toBe('again <EMAIL_2>');
    expect(vault.placeholderFor('email', 'a@b.io')).toBe('<EMAIL_1>');
    expect(vault.size).toBe(2);
  });

  it('labels: both IP versions are IP, every secret kind is SECRET, and one value is one placeholder under a label', () => {
    const vault = new PlaceholderVault();
    expect(vault.placeholderFor('ipv4', '10.0.0.1')).toBe('<IP_1>');
    expect(vault.placeholderFor('ipv6', '::1')).toBe('<IP_2>');
    expect(vault.placeholderFor('jwt', 'x')).toBe('<SECRET_1>');
    expect(vault.placeholderFor('high_entropy', 'x')).toBe('<SECRET_1>');
    expect(vault.placeholderFor('cn_id', '11010519491231002X')).toBe('<CN_ID_1>');
    expect(vault.placeholderFor('iban', 'GB82WEST12345698765432')).toBe('<IBAN_1>');
    expect(redactedLabel('aws_access_key')).toBe('<SECRET>');
    expect(redactedLabel('email')).toBe('<EMAIL>');
  });

  it('restores placeholders the model moved or repeated, and leaves unknown ones alone', () => {
    const vault = new PlaceholderVault();
    redact(vault, 'I am ana@example.com');
    expect(vault.restore('Sure <EMAIL_1>! (<EMAIL_1>) <EMAIL_2> <EMAIL> <email_1> <EMAIL_01> <EMAIL_1')).toBe(
      'Sure ana@example.com! (ana@example.com) <EMAIL_2> <EMAIL> <email_1> <EMAIL_01> <EMAIL_1',
    );
  });

  it("never issues a placeholder the app's own text holds, so restore cannot touch the app's literal", () => {
    const vault = new PlaceholderVault();
    const system = 'Template: reply to <EMAIL_1> and <EMAIL_3>, keep <PHONE_1>.';
    const user = 'I am ana@example.com, he is bob@example.com, call +44 20 7946 0958';
    vault.reserveExisting(system);
    const red = redact(vault, user);
    expect(red).toBe('I am <EMAIL_2>, he is <EMAIL_4>, call <PHONE_2>');
    expect(vault.restore(`${system} / ${red}`)).toBe(`${system} / ${user}`);
  });

  it('redact() reserves the placeholders of its own text', () => {
    const vault = new PlaceholderVault();
    const text = 'literal <EMAIL_1>, real ana@example.com';
    const red = redact(vault, text);
    expect(red).toBe('literal <EMAIL_1>, real <EMAIL_2>');
    expect(vault.restore(red)).toBe(text);
  });

  it('a late reservation of an issued placeholder revokes it: never a wrong value', () => {
    const vault = new PlaceholderVault();
    expect(redact(vault, 'ana@example.com')).toBe('<EMAIL_1>');
    vault.reserveExisting('the app writes <EMAIL_1> itself');
    expect(vault.size).toBe(0);
    expect(vault.restore('<EMAIL_1>')).toBe('<EMAIL_1>');
    expect(redact(vault, 'ana@example.com')).toBe('<EMAIL_2>');
    expect(vault.restore('<EMAIL_2>')).toBe('ana@example.com');
  });

  it('is bounded: past maxValues new values get a placeholder that is never restored', () => {
    const vault = new PlaceholderVault({ maxValues: 3 });
    const emails = Array.from({ length: 5 }, (_, i) => `user${i}@example.com`);
    const red = redact(vault, emails.join(' '));
    expect(red).toBe('<EMAIL_1> <EMAIL_2> <EMAIL_3> <EMAIL> <EMAIL>');
    expect(vault.size).toBe(3);
    expect(vault.placeholderFor('email', emails[0]!)).toBe('<EMAIL_1>'); // known values keep theirs
    expect(vault.restore(red)).toBe(`${emails.slice(0, 3).join(' ')} <EMAIL> <EMAIL>`);
  });

  it('caps at 10,000 values by default', () => {
    const vault = new PlaceholderVault();
    for (let i = 0; i < 10_000; i++) vault.placeholderFor('phone', `v${i}`);
    expect(vault.size).toBe(10_000);
    expect(vault.placeholderFor('phone', 'one more')).toBe('<PHONE>');
    expect(vault.placeholderFor('phone', 'v9999')).toBe('<PHONE_10000>');
  });

  it('skips findings that overlap or fall outside the text', () => {
    const vault = new PlaceholderVault();
    const out = vault.redact('abcdef', [
      { kind: 'email', start: 0, end: 2 },
      { kind: 'email', start: 1, end: 3 },
      { kind: 'phone', start: 4, end: 99 },
    ]);
    expect(out).toBe('<EMAIL_1>cdef');
  });

  it('redact then restore is the identity for any text', () => {
    const pieces = ['a@b.io', '+44 20 7946 0958', '4111 1111 1111 1111', '10.0.0.1', '<EMAIL_1>', '<SECRET_2>', '<', '>', '_', ' ', 'x', '9'];
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 6 })), { maxLength: 25 }), (parts) => {
        const vault = new PlaceholderVault();
        const text = parts.join('');
        expect(vault.restore(redact(vault, text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});
