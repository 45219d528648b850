import { describe, expect, it } from 'vitest';
import { parseRulesFile, RulesFileError } from '../../../../providers/rules/rules-file.js';
import { unsafePattern } from '../../../../providers/rules/regex-guard.js';
import { compileTemplate } from '../../../../providers/rules/template.js';

const FILE = '/srv/router/rules.yaml';

function refused(text: string): string {
  try {
    parseRulesFile(text, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(RulesFileError);
    return (err as Error).message;
  }
  throw new Error('expected a RulesFileError');
}

describe('rules file', () => {
  it('compiles rules in order with defaults (flags i, role user) and the default answer', () => {
    const set = parseRulesFile(
      ['rules:', '  - name: hours', '    match: { keywords: [opening hours] }', '    answer: 9-5', "  - match: { regex: 'order (\\d+)' }", '    answer: "order {{1}}"', 'default: degraded'].join('\n'),
      FILE,
    );
    expect(set.rules.map((r) => [r.label, r.role])).toEqual([
      ['hours', 'user'],
      ['#1', 'user'],
    ]);
    expect(set.rules[1]!.regex!.flags).toBe('i');
    expect(set.fallback?.source).toBe('degraded');
  });

  it('matches keywords literally, as whole words, Unicode case-folded', () => {
    const set = parseRulesFile("rules:\n  - match: { keywords: ['c++', 'ümlaut', 'a.b', 'sign  in'] }\n    answer: ok\n", FILE);
    const re = set.rules[0]!.keywords!;
    expect(['I like C++', 'ÜMLAUT', 'a.b?', 'Sign\tin now'].map((t) => re.test(t))).toEqual([true, true, true, true]);
    expect(['abc++', 'axb', 'umlauts', 'signin', 'ümlauts'].map((t) => re.test(t))).toEqual([false, false, false, false, false]);
  });

  it('names file, line, rule index and name for a bad regex', () => {
    const msg = refused(['rules:', '  - match: { keywords: [a] }', '    answer: x', '  - name: orders', '    match:', "      regex: 'order (\\d+'", '    answer: y'].join('\n'));
    expect(msg).toMatch(/^\/srv\/router\/rules\.yaml:6: rules\[1\]\.match\.regex: invalid regular expression: .*\(rule "orders"\)$/);
  });

  it('refuses catastrophic (nested-quantifier) regexes and bad flags', () => {
    expect(refused('rules:\n  - match: { regex: "(a+)+$" }\n    answer: x\n')).toMatch(/:2: rules\[0\]\.match\.regex: regex refused: nested quantifiers/);
    expect(refused('rules:\n  - match: { regex: "a", flags: g }\n    answer: x\n')).toMatch(/rules\[0\]\.match\.flags: only the flags/);
  });

  it('refuses unknown placeholders and groups the regex does not have, at the answer line', () => {
    expect(refused('rules:\n  - match: { regex: "(a)" }\n    answer: "{{2}}"\n')).toMatch(/:3: rules\[0\]\.answer: \{\{2\}\}: the regex has only 1 group/);
    expect(refused('rules:\n  - match: { keywords: [a] }\n    answer: "{{1}}"\n')).toMatch(/rules\[0\]\.answer: \{\{1\}\}: the rule has no regex groups/);
    expect(refused('rules:\n  - match: { keywords: [a] }\n    answer: "{{routee}}"\n')).toMatch(/unknown placeholder/);
    expect(refused('default: "{{1}}"\n')).toMatch(/^\/srv\/router\/rules\.yaml:1: default: /);
    expect(refused('rules:\n  - match: { regex: "(?<date>\\\\d+)" }\n    answer: x\n')).toMatch(/named group "date" clashes/);
  });

  it('refuses rules without a condition, unknown fields, empty files and bad YAML', () => {
    expect(refused('rules:\n  - match: {}\n    answer: x\n')).toMatch(/rules\[0\]\.match: a rule needs keywords, a regex or both/);
    expect(refused('rules:\n  - match: { keyword: [a] }\n    answer: x\n')).toMatch(/rules\[0\]\.match\.keyword: /);
    expect(refused('rules: []\n')).toMatch(/no rules and no default/);
    expect(refused('rules: [\n')).toMatch(/^\/srv\/router\/rules\.yaml:\d+: invalid YAML/);
    expect(refused('rules:\n  - match: { regex: "\\d+" }\n    answer: x\n')).toMatch(/:2: invalid YAML: .*escape.*single quotes/);
  });
});

describe('regex guard', () => {
  it.each(['(a+)+', '(a*)*b', '(?:\\w+\\s?)+$', '((ab)*c)+', '(a+){2,}', '(x+){1,5}', '(?<n>a+)*'])('refuses %s', (p) => {
    expect(unsafePattern(p)).toMatch(/nested quantifiers/);
  });
  it.each(['order (\\d+)', '(ab)+', '(a+)?', 'a+b+c*', '[(+]+', '\\(a+\\)+', '\\p{L}{2,}', '(?:foo|bar)+', 'x{2,3}'])('accepts %s', (p) => {
    expect(unsafePattern(p)).toBeUndefined();
  });
  it('refuses very long patterns', () => {
    expect(unsafePattern('a'.repeat(1_001))).toMatch(/longer than/);
  });
});

describe('templates', () => {
  it('renders route, model, date, numbered and named groups; other braces stay', () => {
    const t = compileTemplate('{{ route }}/{{model}} on {{date}}: {{0}} {{1}} {{id}} {{2}} {not} }}', { groupCount: 2, names: ['id'] });
    const out = t.render({ route: 'chat', model: 'faq', now: Date.UTC(2025, 0, 31, 23, 59), groups: ['order 42', '42', undefined], named: { id: '42' } });
    expect(out).toBe('chat/faq on 2025-01-31: order 42 42 42  {not} }}');
  });
});
