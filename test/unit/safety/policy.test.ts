import { describe, expect, it } from 'vitest';
import { safetySchema } from '../../../src/config/safety-schema.js';
import { crossCheckSafety } from '../../../src/config/safety-schema.js';
import type { RouteConfig } from '../../../src/config/schema.js';
import { policyFor } from '../../../src/safety/policy.js';
import type { Identity } from '../../../src/identity/types.js';

const safety = safetySchema.parse({
  lexicons: { p: { file: 'p.txt', category: 'politics' } },
  policies: {
    base: { lexicon: { politics: { input: 'block' } }, pii: { secrets: { input: 'block' }, jwt: { input: 'flag' }, email: { input: 'redact', reversible: true } } },
    team: { lexicon: { politics: { input: 'flag' } } },
    key: { pii: { email: { input: 'block' } } },
    empty: {},
  },
  default: 'base',
  keys: { 'key-9': 'key', 'key-e': 'empty' },
  teams: { red: 'team' },
});
const id = (keyId: string, team?: string): Identity => ({ kind: 'key', keyId, ...(team ? { team } : {}) });
const route = (name?: string) => ({ ...(name ? { safety: name } : {}) }) as RouteConfig;

describe('safety policies', () => {
  it('takes the key\'s policy, else the team\'s, else the route\'s, else the default', () => {
    expect(policyFor(safety, id('key-9', 'red'), route('team'))?.name).toBe('key');
    expect(policyFor(safety, id('key-1', 'red'), route('key'))?.name).toBe('team');
    expect(policyFor(safety, id('key-1'), route('team'))?.name).toBe('team');
    expect(policyFor(safety, id('key-1'), route())?.name).toBe('base');
    expect(policyFor(safety, undefined, undefined)?.name).toBe('base');
  });

  it('skips a policy that does nothing, and never reads prototype members as names', () => {
    expect(policyFor(safety, id('key-e'), route())).toBeUndefined();
    expect(policyFor(safety, id('__proto__'), route())?.name).toBe('base');
    expect(policyFor(safety, id('toString', 'constructor'), route())?.name).toBe('base');
  });

  it('expands groups, a kind named on its own winning over its group', () => {
    const p = policyFor(safety, id('key-1'), route())!;
    expect(p.piiInput.get('openai_key')).toEqual({ action: 'block', reversible: false });
    expect(p.piiInput.get('jwt')).toEqual({ action: 'flag', reversible: false });
    expect(p.piiInput.get('email')).toEqual({ action: 'redact', reversible: true });
    expect(p.reversible).toBe(true);
    expect(p.inputKinds.has('phone')).toBe(false);
  });

  it('rejects unknown policy names and categories with the path', () => {
    const problems = crossCheckSafety({
      safety: { lexicons: { p: { category: 'politics' } }, policies: { a: { lexicon: { adult: { input: 'block' } } } }, default: 'nope', keys: { k: 'gone' } },
      routes: { chat: { safety: 'missing' } },
    });
    expect(problems.map((p) => p.path.join('.'))).toEqual(['safety.default', 'safety.keys.k', 'routes.chat.safety', 'safety.policies.a.lexicon.adult']);
    expect(problems[3]!.message).toContain('politics');
  });
});
