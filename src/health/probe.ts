import { startDeadline } from '../core/deadline.js';
import type { Provider } from '../core/provider.js';

/** How one active health probe went. */
export interface ProbeResult {
  outcome: 'pass' | 'fail' | 'timeout';
  latencyMs: number;
  /** The provider's short detail or the error message; never a secret (provider contract). */
  detail?: string;
}

/**
 * Calls `provider.health(model)` with a timeout. `health()` takes no signal, so a probe past
 * its timeout (or cancelled through `cancel`, when the gate closes) is abandoned rather than
 * stopped, and its late answer is ignored; either way no timer is left behind. Never rejects.
 */
export async function runProbe(provider: Provider, model: string, opts: { timeoutMs: number; cancel: AbortSignal; now: () => number }): Promise<ProbeResult> {
  const started = opts.now();
  const deadline = startDeadline({ parents: [opts.cancel], ms: opts.timeoutMs });
  const stopped = deadline.aborted.then(() => (deadline.timedOut() ? ('timeout' as const) : ('cancelled' as const)));
  try {
    if (opts.cancel.aborted) return { outcome: 'fail', latencyMs: 0, detail: 'cancelled' };
    const report = await Promise.race([provider.health(model), stopped]);
    const latencyMs = opts.now() - started;
    if (report === 'timeout') return { outcome: 'timeout', latencyMs, detail: `no answer within ${opts.timeoutMs} ms` };
    if (report === 'cancelled') return { outcome: 'fail', latencyMs, detail: 'cancelled' };
    return { outcome: report.ok ? 'pass' : 'fail', latencyMs, detail: report.detail };
  } catch (err) {
    return { outcome: 'fail', latencyMs: opts.now() - started, detail: err instanceof Error ? err.message : 'health check failed' };
  } finally {
    deadline.dispose();
  }
}
