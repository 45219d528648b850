import { describe, expect, it } from 'vitest';
import { expandKinds, PII_GROUPS, PII_KINDS } from '../../../../src/safety/pii/kinds.js';

describe('expandKinds', () => {
  it('expands groups, keeps kinds, drops duplicates, in PII_KINDS order', () => {
    expect(expandKinds(['jwt', 'email', 'email'])).toEqual(['email', 'jwt']);
    expect(expandKinds(['secrets'])).toEqual([...PII_GROUPS.secrets]);
    expect(expandKinds(['pii', 'secrets'])).toEqual([...PII_KINDS]);
    expect(expandKinds(['ipv4', 'pii'])).toEqual([...PII_GROUPS.pii]);
    expect(expandKinds([])).toEqual([]);
  });

  it('throws an Error naming an unknown name', () => {
    expect(() => expandKinds(['email', 'emails'])).toThrow(/"emails"/);
    expect(() => expandKinds(['__proto__'])).toThrow(/"__proto__"/);
  });

  it('the two groups split the kinds between them', () => {
    const all = [...PII_GROUPS.pii, ...PII_GROUPS.secrets];
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual([...PII_KINDS].sort());
  });
});
