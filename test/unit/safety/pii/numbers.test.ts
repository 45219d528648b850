import { describe, expect, it } from 'vitest';
import { values } from './find.js';

describe('card detector', () => {
  it('finds Luhn-valid numbers, compact or grouped by spaces or dashes', () => {
    expect(values('Visa 4111 1111 1111 1111, MC 5555-5555-5555-4444, Amex 3782 822463 10005.', 'card')).toEqual([
      '4111 1111 1111 1111',
      '5555-5555-5555-4444',
      '3782 822463 10005',
    ]);
    expect(values('4222222222222 / 6011111111111117 / 6222021001123456789 / 6222 0210 0112 3456 789', 'card')).toEqual([
      '4222222222222',
      '6011111111111117',
      '6222021001123456789',
      '6222 0210 0112 3456 789',
    ]);
  });

  it('finds a card followed by its expiry or CVV, and cards in a list', () => {
    expect(values('4111 1111 1111 1111 12/27 and 5555 5555 5555 4444 123', 'card')).toEqual(['4111 1111 1111 1111', '5555 5555 5555 4444']);
    expect(values('cards: 4111 1111 1111 1111 5555 5555 5555 4444', 'card')).toEqual(['4111 1111 1111 1111', '5555 5555 5555 4444']);
    expect(values('order 12 4111111111111111', 'card')).toEqual(['4111111111111111']);
  });

  it('rejects a failed Luhn check', () => {
    expect(values('4111 1111 1111 1112 and 5555555555554445', 'card')).toEqual([]);
  });

  it('rejects odd grouping, mixed separators, other leading digits and longer runs', () => {
    for (const text of [
      '41 11 11 11 11 11 11 11',
      '4111 1111-1111 1111',
      '1111111111111117', // Luhn-valid, but no issuer starts with 1 here
      '0000000000000000',
      '14111111111111111',
      '41111111111111110000', // 20 digits
      'x4111111111111111',
      '4111111111111111x',
      '4111-1111-1111-1111-1111',
      '1234-4111-1111-1111-1111',
      '4111111111111111-12',
    ]) {
      expect(values(text, 'card'), text).toEqual([]);
    }
  });
});

describe('iban detector', () => {
  it('finds valid IBANs, compact or in groups of four', () => {
    expect(values('IBAN: DE89 3704 0044 0532 0130 00 (EUR), GB82WEST12345698765432.', 'iban')).toEqual([
      'DE89 3704 0044 0532 0130 00',
      'GB82WEST12345698765432',
    ]);
    expect(values('FR14 2004 1010 0505 0001 3M02 606 NO9386011117947', 'iban')).toEqual(['FR14 2004 1010 0505 0001 3M02 606', 'NO9386011117947']);
    expect(values('pay DE89 3704 0044 0532 0130 00 EUR 12', 'iban')).toEqual(['DE89 3704 0044 0532 0130 00']);
  });

  it('rejects a bad mod-97 check, wrong lengths, odd spacing and unknown countries', () => {
    for (const text of [
      'DE89370400440532013001',
      'DE89 3704 0044 0532 0130 01',
      'DE893704004405320130', // short
      'DE8937040044053201300099', // long
      'DE89 37040044 0532 0130 00',
      'ZZ89370400440532013000',
      'xDE89370400440532013000',
      'de89370400440532013000',
    ]) {
      expect(values(text, 'iban'), text).toEqual([]);
    }
  });
});

describe('cn_id detector', () => {
  it('finds valid resident ID numbers', () => {
    expect(values('身份证号：11010519491231002X，另一个 440308199901010012。', 'cn_id')).toEqual(['11010519491231002X', '440308199901010012']);
    expect(values('id 11010519491231002x', 'cn_id')).toEqual(['11010519491231002x']);
  });

  it('rejects bad checks, impossible dates and longer runs', () => {
    for (const text of [
      '110105194912310021',
      '110105194902300012',
      '110105190002290017',
      '990105194912310023',
      '11010519491231002X1',
      '111010519491231002X',
      'A11010519491231002X',
    ]) {
      expect(values(text, 'cn_id'), text).toEqual([]);
    }
  });
});
