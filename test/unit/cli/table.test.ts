import { describe, expect, it } from 'vitest';
import { formatAge, formatMs, formatSince, formatUsd } from '../../../src/cli/format.js';
import { cleanText, formatFields, formatTable } from '../../../src/cli/table.js';

describe('tables', () => {
  it('aligns columns two spaces apart, numbers to the right, without trailing spaces', () => {
    const lines = formatTable(
      [{ header: 'KEY' }, { header: 'REQUESTS', align: 'right' }, { header: 'NOTE' }],
      [
        ['key_a', '5', ''],
        ['key_longer', '1520', 'x'],
      ],
    );
    expect(lines).toEqual(['KEY         REQUESTS  NOTE', 'key_a              5', 'key_longer      1520  x']);
  });

  it('never lets relayed text drive the terminal: control characters and escapes become "?"', () => {
    expect(cleanText('boom\u001b[2J\u001b]0;pwned\u0007 end')).toBe('boom?[2J?]0;pwned? end');
    expect(cleanText('two\nlines\t tabbed')).toBe('two lines tabbed');
    const [, row] = formatTable([{ header: 'A' }], [['x\u001b[31m']]);
    expect(row).toBe('x?[31m');
    expect(formatFields([['reason', 'bad\u0007'], ['a', 'b']])).toEqual(['reason: bad?', 'a:      b']);
  });

  it('writes times and money for people', () => {
    expect(formatMs(null)).toBe('-');
    expect(formatMs(0.84)).toBe('0.8ms');
    expect(formatMs(640.4)).toBe('640ms');
    expect(formatMs(42_100)).toBe('42.1s');
    expect(formatUsd(3.4167)).toBe('3.416700');
    expect(formatUsd(null)).toBe('-');
    expect(formatAge(45_000)).toBe('45s');
    expect(formatAge(12 * 60_000 + 5_000)).toBe('12m');
    expect(formatAge(3 * 3_600_000 + 5 * 60_000)).toBe('3h05m');
    expect(formatAge(50 * 3_600_000)).toBe('2d02h');
    expect(formatSince('2026-03-01T11:48:00.000Z', Date.parse('2026-03-01T12:00:00Z'))).toBe('2026-03-01 11:48:00Z (12m ago)');
    expect(formatSince(null, 0)).toBe('-');
  });
});
