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
 * its timeout is abandoned, not cancelled; its late answer is ignored. Never rejects.
 */
export async function runProbe(provider: Provider, model: string, timeoutMs: number, now: () => number): Promise<ProbeResult> {
  const started = now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const report = await Promise.race([provider.health(model), expired]);
    const latencyMs = now() - started;
    if (report === 'timeout') return { outcome: 'timeout', latencyMs, detail: `no answer within ${timeoutMs} ms` };
    return { outcome: report.ok ? 'pass' : 'fail', latencyMs, detail: report.detail };
  } catch (err) {
    return { outcome: 'fail', latencyMs: now() - started, detail: err instanceof Error ? err.message : 'health check failed' };
  } finally {
    clearTimeout(timer);
  }
}
