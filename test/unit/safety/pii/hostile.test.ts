import { describe, expect, it } from 'vitest';
import { detectPii } from '../../../../src/safety/pii/detect.js';
import { PII_KINDS } from '../../../../src/safety/pii/kinds.js';

const MB = 1 << 20;
const fill = (unit: string) => unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB);

/**
 * Inputs shaped to make a backtracking pattern go quadratic or worse: long runs of what one
 * pattern takes, with the one character it needs at the end missing. Every detector runs on
 * each; 1 MB must take well under a second (it takes ~20–200 ms on the CI machine).
 */
const HOSTILE: Record<string, string> = {
  'aaaa…': fill('a'),
  'a@a.a.a…': fill('a@a.a.a.'),
  'a@ then a.a.a…': `a@${fill('a.')}`,
  '@@@…': fill('@'),
  'a@a@a@…': fill('a@'),
  'aaaa…@x.io': `${fill('a')}@x.io`,
  'digits': fill('1'),
  '1-1-1-…': fill('1-'),
  '1 1 1 …': fill('1 '),
  '1.1.1.…': fill('1.'),
  '+1 +1 …': fill('+1 '),
  '++++…': fill('+'),
  '+ and 15 digits …': fill('+123456789012345 '),
  '::::…': fill(':'),
  'a:a:a:…': fill('a:'),
  'f::1 f::1 …': fill('f::1 '),
  'eyJeyJ…': fill('eyJ'),
  'eyJ header. …': fill('eyJhbGciOiJIUzI1NiJ9.'),
  'sk-sk-…': fill('sk-'),
  'sk- then a long run': `sk-${fill('aB3')}`,
  'ghp_…': fill('ghp_'),
  'AKIA…': fill('AKIA'),
  'BEGIN lines': fill('-----BEGIN PRIVATE KEY-----\n'),
  'BEGIN lines, no newline': fill('-----BEGIN RSA PRIVATE KEY-----'),
  'BEGIN, then base64 forever': `-----BEGIN PRIVATE KEY-----\n${fill('A')}`,
  'BEGIN with base64 lines': fill(`-----BEGIN PRIVATE KEY-----\n${'A'.repeat(64)}\n`),
  'base64 run': fill('aB3+/x9Z'),
  'DE89 DE89 …': fill('DE89 '),
  'DE89DE89…': fill('DE89'),
  '1.1.1.1.1…': fill('1.1.1.1.'),
  'cards spaced': fill('4111 '),
  '<EMAIL_1<EMAIL_1…': fill('<EMAIL_1'),
  'long word with digits': fill('abcdefghij0123456789ABCDEFGHIJ-_/'),
  'a------…a': `a${fill('-')}a`,
  '====…': fill('='),
  'aB3////…x': `aB3${fill('/')}x`,
  'a/a/a/…': fill('a/'),
  '19-char words': fill(`${'x'.repeat(19)} `),
};

describe('detectors on hostile input', () => {
  const all = new Set(PII_KINDS);
  it.each(Object.entries(HOSTILE))('%s (1 MB) in well under a second', (_name, text) => {
    const t0 = performance.now();
    detectPii(text, all);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('all the shapes side by side (4 MB) in under 4 s', () => {
    const text = Object.values(HOSTILE)
      .map((t) => t.slice(0, MB / 8))
      .join('\n');
    const t0 = performance.now();
    detectPii(text, all);
    expect(performance.now() - t0).toBeLessThan(4000);
  });
});
