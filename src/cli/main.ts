/** The `llm-router` command (bin/llm-router.js loads this): runs the command line, sets the exit code. */
import { processContext } from './cli-context.js';
import { runCli } from './run-cli.js';

const code = await runCli(process.argv.slice(2), processContext());
// process.exitCode, not process.exit(): output still being written to a pipe is not cut short.
// undefined: `start` — the server runs on and exits by itself.
if (code !== undefined) process.exitCode = code;
