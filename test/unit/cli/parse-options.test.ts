import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/cli-errors.js';
import { durationOption, intOption, joinDashValues, numberOption, parseCommandLine } from '../../../src/cli/parse-options.js';

const OPTIONS = { from: { type: 'string' }, json: { type: 'boolean' } } as const;

describe('command-line parsing', () => {
  it('takes "--from -24h" as one value (parseArgs alone would refuse it)', () => {
    expect(joinDashValues(['--from', '-24h', '--json'], OPTIONS)).toEqual(['--from=-24h', '--json']);
    expect(parseCommandLine('usage', ['--from', '-7d'], OPTIONS).values.from).toBe('-7d');
    // Only for string options, and only a dash followed by a digit: flags stay flags.
    expect(joinDashValues(['--json', '-1'], OPTIONS)).toEqual(['--json', '-1']);
    expect(joinDashValues(['--from', '--json'], OPTIONS)).toEqual(['--from', '--json']);
  });

  it('turns unknown flags, missing values and stray arguments into usage errors naming the command', () => {
    for (const argv of [['--frm', 'x'], ['--from'], ['extra']]) {
      const err = (() => {
        try {
          parseCommandLine('usage', argv, OPTIONS);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(2);
      expect((err as UsageError).command).toBe('usage');
    }
    expect(parseCommandLine('targets', ['openai/x'], OPTIONS, true).positionals).toEqual(['openai/x']);
  });

  it('checks numbers and durations', () => {
    expect(intOption('requests', '20', 1, 100_000)).toBe(20);
    for (const bad of ['0', '100001', '1.5', '', 'ten']) expect(() => intOption('requests', bad, 1, 100_000)).toThrow(UsageError);
    expect(numberOption('stream-ratio', '0.25', 0, 1)).toBe(0.25);
    expect(() => numberOption('stream-ratio', '2', 0, 1)).toThrow(/from 0 to 1/);
    expect(durationOption('duration', '30s')).toBe(30_000);
    expect(durationOption('duration', '5m')).toBe(300_000);
    expect(durationOption('duration', '250ms')).toBe(250);
    expect(durationOption('duration', '2')).toBe(2_000);
    for (const bad of ['0', '-1s', '5 minutes', '']) expect(() => durationOption('duration', bad)).toThrow(UsageError);
  });
});
