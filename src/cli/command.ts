import type { CliContext } from './cli-context.js';

/** One subcommand of `llm-router`. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The whole `--help` text. */
  help: string;
  /**
   * Runs with the arguments after the command name. Resolves to the exit code, or to undefined
   * when the process stays up and decides its own exit (`start`: the server).
   */
  run(argv: string[], ctx: CliContext): Promise<number | undefined>;
}
