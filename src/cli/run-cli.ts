/** `llm-router <command> …`: finds the command, runs it, and turns every failure into its exit code. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../models/paths.js';
import { DEFAULT_ROUTER_URL } from './admin-client.js';
import { printHelp, type CliContext } from './cli-context.js';
import { CliError, EXIT, UsageError } from './cli-errors.js';
import type { Command } from './command.js';
import { benchCommand } from './commands/bench.js';
import { checkCommand } from './commands/check.js';
import { keysCommand } from './commands/keys.js';
import { loadtestCommand } from './commands/loadtest.js';
import { modelCommand } from './commands/model.js';
import { startCommand } from './commands/start.js';
import { drainCommand, releaseCommand, restoreCommand, targetsCommand } from './commands/targets.js';
import { usageCommand } from './commands/usage.js';
import { cleanText } from './table.js';

export const COMMANDS: readonly Command[] = [startCommand, checkCommand, keysCommand, usageCommand, targetsCommand, drainCommand, releaseCommand, restoreCommand, modelCommand, benchCommand, loadtestCommand];

export function mainHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: llm-router <command> [options]      (llm-router <command> --help for its options)

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}

The admin commands (keys, usage, targets, drain, release, restore) talk to a running router:
  LLM_ROUTER_URL         the router (or --url; default ${DEFAULT_ROUTER_URL})
  LLM_ROUTER_ADMIN_KEY   an admin key from auth.adminKeys (or --admin-key-file FILE);
                         never a flag, never printed
Every read command takes --json.

Exit codes:
  0  ok
  1  the operation failed: the router refused it (its message is printed), a config is
     invalid, a load test had more failures than --max-errors
  2  usage error: unknown command or flag, bad value
  3  cannot reach the router (or the load test's URL): refused, unknown host, timed out`;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Runs one command line; resolves to the exit code, or undefined when the server now owns the process. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number | undefined> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) throw new UsageError('give a command');
    if (name === '--help' || name === '-h') return printHelp(ctx, mainHelp());
    if (name === '--version' || name === '-V') return printHelp(ctx, version());
    if (name === 'help') {
      const of = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0]);
      if (rest[0] !== undefined && !of) throw new UsageError(`unknown command "${rest[0]}"`);
      return printHelp(ctx, of ? of.help : mainHelp());
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}"`);
    return await command.run(rest, ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.stderr.write(`llm-router: ${cleanText(err.message)}\n${err.command ? `see: llm-router ${err.command} --help` : `commands: ${COMMANDS.map((c) => c.name).join(', ')} (llm-router --help)`}\n`);
      return err.exitCode;
    }
    // Messages may relay the router's words: printed through cleanText (no terminal escapes).
    if (err instanceof CliError) {
      ctx.stderr.write(`llm-router: ${cleanText(err.message)}\n`);
      return err.exitCode;
    }
    ctx.stderr.write(`llm-router: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.failed;
  }
}
