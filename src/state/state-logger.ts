/**
 * The logging the state module needs, pino-shaped (`logger.warn({ ...fields }, 'message')`)
 * so the router's pino logger fits as is, and tests can pass a silent or recording one.
 */
export interface StateLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything (default when none is given). */
export const silentLogger: StateLogger = { info() {}, warn() {}, error() {} };
