/** The CLI's exit codes (documented in `llm-router --help` and the README). */
export const EXIT = {
  /** The command did what it was asked. */
  ok: 0,
  /** The operation failed: the router refused it (its message is printed), a config is invalid, a load test saw errors. */
  failed: 1,
  /** The command line is wrong: unknown command or flag, a bad value. */
  usage: 2,
  /** The router (or the load test's URL) cannot be reached: refused, unknown host, timed out. */
  unreachable: 3,
} as const;

/** An error that ends the command with a given exit code; its message is printed as is. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A wrong command line (exit 2); `command` names the help to point at. */
export class UsageError extends CliError {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message, EXIT.usage);
    this.name = 'UsageError';
  }
}

/** The router answered with an error (exit 1): status and OpenAI error fields, for `--json` and the message. */
export class ApiError extends CliError {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    readonly param: string | null,
  ) {
    super(message, EXIT.failed);
    this.name = 'ApiError';
  }
}

/** No answer at all (exit 3): connection refused, unknown host, TLS failure, timeout. */
export class UnreachableError extends CliError {
  constructor(message: string) {
    super(message, EXIT.unreachable);
    this.name = 'UnreachableError';
  }
}
