import type { Logger } from 'pino';
import type { FleetLink } from './fleet-types.js';
import type { HealthMetrics } from './health-metrics.js';
import { runProbe } from './probe.js';
import { clipMessage, type TargetHealth } from './target-health.js';

export interface ProbeScheduleDeps {
  now: () => number;
  logger: Logger;
  metrics?: HealthMetrics;
  /** The fleet link, when the gate shares health (read at each probe: it is set after the gate is built). */
  link: () => FleetLink | undefined;
  closed: () => boolean;
  /** A probe of the current open phase passed; the state machine moves on. */
  passed: (e: TargetHealth) => void;
}

/**
 * The active probes of open targets: one timer per target, a probe at a time, results of an
 * earlier phase ignored. With a fleet one instance probes a target (the holder of its lease in
 * Redis) and shares the result; the others try for the lease again a probe interval later, so
 * they take over when the holder dies. Without Redis every instance probes for itself.
 */
export function createProbeSchedule(deps: ProbeScheduleDeps) {
  const { now, logger: log, metrics: m } = deps;

  function schedule(e: TargetHealth, delayMs: number): void {
    clear(e);
    e.nextProbeAt = now() + delayMs;
    e.probeTimer = setTimeout(() => void probe(e).catch((err: unknown) => log.error({ target: e.key, err: (err as Error).message }, 'health probe crashed')), delayMs);
    e.probeTimer.unref?.();
  }

  function clear(e: TargetHealth): void {
    if (e.probeTimer) clearTimeout(e.probeTimer);
    e.probing?.abort();
    e.probeTimer = undefined;
    e.probing = undefined;
    e.nextProbeAt = undefined;
  }

  /** Still the phase the probe was started in (not drained, restored, moved on by the fleet, or closed). */
  const current = (e: TargetHealth, epoch: number) => !deps.closed() && e.epoch === epoch && e.state === 'open';

  async function probe(e: TargetHealth): Promise<void> {
    e.probeTimer = undefined;
    e.nextProbeAt = undefined;
    const epoch = e.epoch;
    const { intervalMs, timeoutMs } = e.settings.healthCheck;
    const link = deps.link();
    if (link) {
      // The lease outlives the gap between two of its holder's probes.
      const mine = await link.probeTurn(e.key, 2 * intervalMs + timeoutMs);
      if (!current(e, epoch)) return;
      if (!mine) return schedule(e, intervalMs);
    }
    const ctl = (e.probing = new AbortController());
    const r = await runProbe(e.provider, e.target.model, { timeoutMs, cancel: ctl.signal, now });
    if (e.probing === ctl) e.probing = undefined;
    // A probe that outlived its phase is not evidence any more.
    if (!current(e, epoch)) return;
    e.lastProbe = { at: now(), outcome: r.outcome, latencyMs: r.latencyMs, ...(r.detail === undefined ? {} : { detail: clipMessage(r.detail) }) };
    m?.probes.inc({ provider: e.target.provider, model: e.target.model, outcome: r.outcome });
    if (r.outcome === 'pass') {
      e.probes.passed++;
      deps.passed(e);
    } else {
      e.probes.failed++;
      log.debug({ target: e.key, outcome: r.outcome, detail: e.lastProbe.detail }, 'health probe failed');
      link?.probed(e.key, e.lastProbe);
      schedule(e, intervalMs);
    }
  }

  return { schedule, clear };
}
