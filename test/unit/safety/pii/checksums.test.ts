import { describe, expect, it } from 'vitest';
import { cnIdValid, ibanValid, luhnValid } from '../../../../src/safety/pii/checksums.js';

describe('luhnValid', () => {
  it('accepts published test card numbers and rejects a changed digit', () => {
    for (const n of ['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117', '4222222222222', '6222021001123456789']) {
      expect(luhnValid(n)).toBe(true);
    }
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('5555555555554445')).toBe(false);
    expect(luhnValid('4111 1111 1111 1111')).toBe(false); // digits only
  });
});

describe('ibanValid', () => {
  it('accepts registry examples of many countries', () => {
    for (const iban of [
      'DE89370400440532013000',
      'GB82WEST12345698765432',
      'FR1420041010050500013M02606',
      'NL91ABNA0417164300',
      'CH9300762011623852957',
      'NO9386011117947',
      'BE68539007547034',
      'IT60X0542811101000000123456',
      'ES9121000418450200051332',
      'PL61109010140000071219812874',
      'MT84MALT011000012345MTLCAST001S',
      'LC55HEMM000100010012001200023015',
      'RU0204452560040702810412345678901',
    ]) {
      expect(ibanValid(iban), iban).toBe(true);
    }
  });

  it('rejects a bad check, a wrong length for the country, an unknown country, lower case', () => {
    expect(ibanValid('DE89370400440532013001')).toBe(false);
    expect(ibanValid('DE8937040044053201300')).toBe(false);
    expect(ibanValid('GB82WEST123456987654321')).toBe(false);
    expect(ibanValid('ZZ89370400440532013000')).toBe(false);
    expect(ibanValid('de89370400440532013000')).toBe(false);
  });
});

describe('cnIdValid', () => {
  it('accepts IDs with a valid date and check character (X in either case)', () => {
    for (const id of ['11010519491231002X', '11010519491231002x', '440308199901010012', '310115200002291235', '510104198506153213']) {
      expect(cnIdValid(id), id).toBe(true);
    }
  });

  it('rejects a wrong check character', () => {
    expect(cnIdValid('110105194912310021')).toBe(false);
    expect(cnIdValid('440308199901010013')).toBe(false);
  });

  it('rejects impossible dates and unknown provinces even with a correct check character', () => {
    expect(cnIdValid('110105194902300012')).toBe(false); // 30 February
    expect(cnIdValid('110105190002290017')).toBe(false); // 1900 was no leap year
    expect(cnIdValid('110105215001010018')).toBe(false); // 2150
    expect(cnIdValid('110105190112290018')).toBe(true); // 1901-12-29: fine
    expect(cnIdValid('990105194912310023')).toBe(false); // province 99
  });
});
