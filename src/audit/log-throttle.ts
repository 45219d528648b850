import type { Logger } from 'pino';

export type ThrottledLog = (obj: Record<string, unknown>, msg: string) => void;

/**
 * A warning logged at most once per `intervalMs`; the ones held back are counted and reported
 * with the next one (`suppressed`), so a failing disk or Redis cannot flood the log.
 */
export function throttledWarn(logger: Logger, intervalMs: number, now: () => number = Date.now): ThrottledLog {
  let last = -Infinity;
  let suppressed = 0;
  return (obj, msg) => {
    const t = now();
    if (t - last < intervalMs) {
      suppressed++;
      return;
    }
    last = t;
    logger.warn(suppressed > 0 ? { ...obj, suppressed } : obj, msg);
    suppressed = 0;
  };
}
