/** node:util parseArgs with the CLI's conventions: usage errors as UsageError, `--from -24h` as one value. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './cli-errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Every command takes --help. */
export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies OptionSpec;

/**
 * parseArgs refuses `--from -24h` (a value that starts with a dash looks like a flag). A string
 * option followed by a token that starts with a dash and a digit (a relative time, a negative
 * number: never a flag of ours) takes it as its value, as `--from=-24h` would.
 */
export function joinDashValues(argv: readonly string[], options: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const next = argv[i + 1];
    const name = token.startsWith('--') && !token.includes('=') ? token.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${token}=${next}`);
      i++;
    } else {
      out.push(token);
    }
  }
  return out;
}

/** Parses a command's flags strictly; a wrong command line throws UsageError naming `command` for its help. */
export function parseCommandLine<O extends OptionSpec>(command: string, argv: readonly string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: joinDashValues(argv, options), options, strict: true, allowPositionals });
  } catch (err) {
    // ERR_PARSE_ARGS_UNKNOWN_OPTION, …_INVALID_OPTION_VALUE, …_UNEXPECTED_POSITIONAL: the user's to fix.
    if (err instanceof TypeError && /^ERR_PARSE_ARGS_/.test((err as NodeJS.ErrnoException).code ?? '')) throw new UsageError(err.message, command);
    throw err;
  }
}

/** An integer flag within [min, max]. */
export function intOption(flag: string, text: string, min: number, max: number, command?: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be an integer from ${min} to ${max} (got "${text}")`, command);
  return n;
}

/** A decimal flag within [min, max]. */
export function numberOption(flag: string, text: string, min: number, max: number, command?: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${flag} must be a number from ${min} to ${max} (got "${text}")`, command);
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** A duration: `500ms`, `30s`, `5m`, `1h`, or a plain number of seconds. */
export function durationOption(flag: string, text: string, command?: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const ms = m ? Number(m[1]) * DURATION_UNITS[m[2] ?? 's']! : NaN;
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`--${flag} must be a duration such as 30s, 5m or 500ms (got "${text}")`, command);
  return ms;
}
