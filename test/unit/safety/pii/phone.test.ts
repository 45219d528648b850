import { describe, expect, it } from 'vitest';
import { values } from './find.js';

describe('phone detector', () => {
  it('finds international numbers', () => {
    expect(values('UK +44 20 7946 0958, US +1 (415) 555-2671; CN +86 138 0013 8000.', 'phone')).toEqual([
      '+44 20 7946 0958',
      '+1 (415) 555-2671',
      '+86 138 0013 8000',
    ]);
    expect(values('call +44 (0)20 7946 0958 or +4915112345678 or +33.1.23.45.67.89', 'phone')).toEqual([
      '+44 (0)20 7946 0958',
      '+4915112345678',
      '+33.1.23.45.67.89',
    ]);
    expect(values('(+44) 20 7946 0958 or (+1) 415-555-2671', 'phone')).toEqual(['(+44) 20 7946 0958', '(+1) 415-555-2671']);
  });

  it('finds mainland China mobiles with prefixes and separators', () => {
    expect(values('手机13800138000，或 138-0013-8000 / 138 0013 8000', 'phone')).toEqual(['13800138000', '138-0013-8000', '138 0013 8000']);
    expect(values('0086 13800138000 or 008613912345678 or (+86) 139-1234-5678', 'phone')).toEqual([
      '0086 13800138000',
      '008613912345678',
      '(+86) 139-1234-5678',
    ]);
    expect(values('list: 13800138000 13900139000', 'phone')).toEqual(['13800138000', '13900139000']);
  });

  it('finds mainland China landlines', () => {
    expect(values('北京 010-12345678，深圳 0755-1234567，(021) 87654321，分机 010-12345678-801', 'phone')).toEqual([
      '010-12345678',
      '0755-1234567',
      '(021) 87654321',
      '010-12345678-801',
    ]);
  });

  it('does not match inside longer numbers or words', () => {
    for (const text of [
      'card 6213800138000123456',
      'id 11010519491231002X',
      'order 2138001380001',
      'ref ABC13800138000',
      'code 138-0013-8000-12',
      'acct 12-13800138000',
      'x +123456789012345678',
      'sum 1+44207946095',
      '12800138000 (no 12x prefix)',
      '+0 20 7946 0958',
      '+1 234 567', // too short
      'date 2024-01-15 and 2024-12-31',
      'time 12:30:45, version 1.2.3.4',
    ]) {
      expect(values(text, 'phone'), text).toEqual([]);
    }
  });
});
