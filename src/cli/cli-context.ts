/** What a command may touch of the world, injected so tests can capture output and fake the network. */

/** An output stream: process.stdout / process.stderr, or a buffer in tests. */
export interface OutStream {
  write(text: string): unknown;
  /** A terminal (progress bars, colours); absent or false for pipes and files. */
  isTTY?: boolean;
  /** Terminal width, when a terminal. */
  columns?: number;
}

export interface CliContext {
  stdout: OutStream;
  stderr: OutStream;
  env: NodeJS.ProcessEnv;
  /** HTTP client for the admin API (the global fetch by default). */
  fetch: typeof fetch;
  /** Epoch ms (ages such as "open for 3m"). */
  now: () => number;
}

/** The real process. */
export function processContext(): CliContext {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, fetch: globalThis.fetch, now: Date.now };
}

/** Writes lines to stdout. */
export function printLines(ctx: CliContext, lines: readonly string[]): void {
  if (lines.length) ctx.stdout.write(`${lines.join('\n')}\n`);
}

/** Pretty JSON on stdout (the `--json` answer of every read command). */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints a command's help on stdout; exit 0. */
export function printHelp(ctx: CliContext, help: string): 0 {
  ctx.stdout.write(`${help}\n`);
  return 0;
}
