import { pino, type Logger } from 'pino';

/** JSON logs; credentials are redacted wherever they might appear. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'llm-router' },
    redact: {
      paths: ['*.authorization', '*.Authorization', '*["api-key"]', '*.apiKey', '*.apiKeys', '*.adToken', 'headers.authorization', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
type LogArgs = Parameters<Logger['info']>;

/**
 * The logger `lazyChild` returns: a class, so that a request's costs one small object (the
 * methods live on the prototype) and the child itself only once a line is written.
 */
class LazyChild {
  private made: Logger | undefined;
  constructor(
    private readonly parent: Logger,
    private readonly bindings: Record<string, unknown>,
  ) {}

  private get real(): Logger {
    return (this.made ??= this.parent.child(this.bindings));
  }

  private line(level: Level, args: LogArgs): void {
    if (this.parent.isLevelEnabled(level)) (this.real[level] as (...a: LogArgs) => void)(...args);
  }

  trace(...args: LogArgs): void {
    this.line('trace', args);
  }
  debug(...args: LogArgs): void {
    this.line('debug', args);
  }
  info(...args: LogArgs): void {
    this.line('info', args);
  }
  warn(...args: LogArgs): void {
    this.line('warn', args);
  }
  error(...args: LogArgs): void {
    this.line('error', args);
  }
  fatal(...args: LogArgs): void {
    this.line('fatal', args);
  }
  child(b: Record<string, unknown>, o?: object): Logger {
    return this.real.child(b, o);
  }
  isLevelEnabled(l: string): boolean {
    return this.parent.isLevelEnabled(l);
  }
  get level(): string {
    return this.parent.level;
  }
}

/**
 * `parent.child(bindings)`, made on the first line logged: a request's logger costs nothing on
 * the common path, where only the access line (its own logger) is written. Same lines, same
 * bindings as the child itself. Covers the level methods, `child`, `isLevelEnabled` and `level`.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  return new LazyChild(parent, bindings) as unknown as Logger;
}
