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

type LogFn = Logger['info'];

/**
 * `parent.child(bindings)`, made on the first line logged: a request's logger costs nothing on
 * the common path, where only the access line (its own logger) is written. Same lines, same
 * bindings as the child itself. Covers the level methods, `child`, `isLevelEnabled` and `level`.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const get = () => (child ??= parent.child(bindings));
  const at = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'): LogFn =>
    ((...args: Parameters<LogFn>) => (parent.isLevelEnabled(level) ? get()[level](...args) : undefined)) as LogFn;
  const lazy = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: (b: Record<string, unknown>, o?: object) => get().child(b, o),
    isLevelEnabled: (l: string) => parent.isLevelEnabled(l),
    get level() {
      return parent.level;
    },
  };
  return lazy as unknown as Logger;
}
