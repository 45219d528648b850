/** `llm-router bench`: the router-overhead benchmark (scripts/bench-overhead.ts), from a source checkout. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../../models/paths.js';
import { printHelp, type CliContext } from '../cli-context.js';
import { CliError, EXIT, UsageError } from '../cli-errors.js';
import type { Command } from '../command.js';
import { HELP_OPTION, intOption, parseCommandLine } from '../parse-options.js';

const HELP = `Usage: llm-router bench [--duration SECONDS] [--ttfb N]

Measures what the router adds per request: builds the router (npm run build), then starts a
mock upstream, a lean node:http pass-through (the baseline: the least a Node gateway does) and
the compiled router (node dist/src/main.js, production-shaped config), each its own process.
In 2 interleaved rounds it drives the lean server and the router with autocannon at 16
connections, non-streamed and streamed, and times N sequential streamed calls to each and to
the upstream directly. Prints per server: rps, CPU ms per request and per stream, streams/s,
the first token's added latency (p50, p99), idle and post-load RSS; then router / lean ratios
and the performance goals. Takes a minute or two. Needs the development dependencies (tsx,
autocannon) and scripts/: a source checkout after \`npm ci\`. To measure another deployment
instead, use \`llm-router loadtest URL\`.

  --duration SECONDS   per autocannon run (default 8)
  --ttfb N             sequential streamed calls per server per round for the first-token
                       figures (default 500, at least 10)

More options (--rounds, --connections, --only, --compare DIR to measure another built checkout
side by side, --json, --profile, --no-build): \`npm run bench -- --help\`.

Exit: the benchmark's (0 when every run finished without errors; unmet goals do not fail it).`;

/** Whether a package resolves from here (a production install has no dev dependencies). */
function resolvable(specifier: string): boolean {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

export const benchCommand: Command = {
  name: 'bench',
  summary: 'the router-overhead benchmark (source checkout)',
  help: HELP,
  async run(argv: string[], ctx: CliContext) {
    const { values } = parseCommandLine('bench', argv, { ...HELP_OPTION, duration: { type: 'string' }, ttfb: { type: 'string' } });
    if (values.help) return printHelp(ctx, HELP);
    const args: string[] = [];
    if (values.duration !== undefined) args.push('--duration', String(intOption('duration', values.duration, 1, 3600, 'bench')));
    if (values.ttfb !== undefined) args.push('--ttfb', String(intOption('ttfb', values.ttfb, 1, 1_000_000, 'bench')));
    const script = path.join(PACKAGE_ROOT, 'scripts', 'bench-overhead.ts');
    if (!existsSync(script) || !resolvable('tsx') || !resolvable('autocannon')) {
      throw new CliError(`bench runs ${script} through tsx and autocannon: it needs a source checkout with the development dependencies (npm ci)`, EXIT.failed);
    }
    // Its own process, from the package root (it starts src/main.ts and the static upstream by relative path).
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: PACKAGE_ROOT, stdio: 'inherit', env: ctx.env });
    return new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
    });
  },
};
