/**
 * `llm-router start`: the server, in this process. src/main.ts starts the router when it is
 * loaded (reading its flags from process.argv), so `start` checks the flags, puts them where
 * main.ts reads them and loads it: one process, whose signals (SIGTERM drains) and exit codes
 * are the server's own, exactly as `node dist/src/main.js`.
 */
import { parseStartOptions } from '../../cli-args.js';
import { printHelp, type CliContext } from '../cli-context.js';
import { UsageError } from '../cli-errors.js';
import type { Command } from '../command.js';

const HELP = `Usage: llm-router start [--config FILE] [--port N] [--host ADDRESS]

Starts the router (the same as \`node dist/src/main.js\`): loads the config, listens, reloads the
config when the file changes, drains on SIGTERM / SIGINT.

  -c, --config FILE   the config (default $ROUTER_CONFIG, else config/router.yaml)
  -p, --port N        listen port (default $PORT, else server.port)
  --host ADDRESS      listen address (default $HOST, else server.host); beyond loopback
                      only with client auth configured

Exit: 0 after a clean drain, 1 when the drain did not finish or on a crash, 2 when the config is
invalid or the router cannot start (TLS files, key store, refusing a public bind without keys).`;

export const startCommand: Command = {
  name: 'start',
  summary: 'start the router (the server itself)',
  help: HELP,
  async run(argv: string[], ctx: CliContext) {
    if (argv.includes('--help') || argv.includes('-h')) return printHelp(ctx, HELP);
    try {
      parseStartOptions(argv, ctx.env);
    } catch (err) {
      throw new UsageError((err as Error).message, 'start');
    }
    process.argv = [process.argv[0]!, process.argv[1]!, ...argv];
    await import('../../main.js');
    // The server owns the process from here: it exits when it has drained.
    return undefined;
  },
};
