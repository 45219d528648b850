/** A load run's progress on stderr: a redrawn bar on a terminal, a plain line every 10 % (at most one a second) otherwise. */
import type { OutStream } from '../cli-context.js';
import type { LoadProgress } from './load-runner.js';

/** "[#####-----]" for a fraction 0–1. */
export function renderBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

const rate = (p: LoadProgress) => (p.elapsedMs > 0 ? (p.done / (p.elapsedMs / 1000)).toFixed(1) : '0.0');

export interface ProgressReporter {
  update(p: LoadProgress): void;
  /** Clears the bar (a terminal) before the summary is printed. */
  finish(): void;
}

export function createProgress(stream: OutStream, opts: { total: number; durationMs?: number; plain: boolean; quiet?: boolean; now?: () => number }): ProgressReporter {
  const now = opts.now ?? (() => performance.now());
  // With a duration, the clock usually ends the run: say how far along it is rather than "163/100000".
  const count = (p: LoadProgress) => (opts.durationMs === undefined ? `${p.done}/${opts.total}` : `${p.done} done, ${(p.elapsedMs / 1000).toFixed(0)}s of ${(opts.durationMs / 1000).toFixed(0)}s`);
  if (opts.quiet) return { update() {}, finish() {} };
  if (opts.plain) {
    let step = 0;
    let last = now();
    return {
      update(p) {
        const reached = Math.floor(p.fraction * 10);
        // A line each 10 %, at most one a second: a run of a second or two prints none (a log stays short).
        if (reached <= step || reached >= 10 || now() - last < 1_000) return;
        step = reached;
        last = now();
        stream.write(`loadtest: ${reached * 10}% (${count(p)}), ${p.failed} error(s), ${rate(p)} req/s\n`);
      },
      finish() {},
    };
  }
  let last = -Infinity;
  let drawn = false;
  return {
    update(p) {
      const t = now();
      // Redrawn at most 10 times a second: a fast run must not spend its time on the terminal.
      if (t - last < 100 && p.fraction < 1) return;
      last = t;
      drawn = true;
      const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 50));
      stream.write(`\r${renderBar(p.fraction, width)} ${count(p)} ${Math.floor(p.fraction * 100)}%  ${p.failed} error(s)  ${rate(p)} req/s\x1b[K`);
    },
    finish() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
