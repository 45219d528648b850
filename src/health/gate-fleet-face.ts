import type { FleetGate, ShadowLimits } from './fleet-types.js';
import type { TargetHealth, TargetState } from './target-health.js';

/** A fleet shadow slot outlives its call's timeout by this much before it frees itself. */
const SLOT_MARGIN_MS = 5_000;

/** The fleet-wide shadow budget of a target's probation, from its route's shadow settings. */
export const shadowLimits = (e: TargetHealth): ShadowLimits => ({
  max: e.settings.shadow.maxConcurrent,
  budget: e.settings.shadow.promoteAfter,
  ttlMs: e.settings.shadow.timeoutMs + SLOT_MARGIN_MS,
});

/**
 * What the fleet layer may read and do in one gate: news from other instances becomes the local
 * state through the gate's own `moveTo` (so timers, shadows and metrics follow as for a local
 * decision), and is never written back.
 */
export function gateFleetFace(
  entries: ReadonlyMap<string, TargetHealth>,
  ops: { closed: () => boolean; moveTo: (e: TargetHealth, to: TargetState, why: string) => void },
): FleetGate {
  return {
    targets: () => [...entries.values()].map((e) => ({ key: e.key, state: e.state, promoteAfter: e.settings.shadow.promoteAfter })),

    apply(key, rec) {
      const e = entries.get(key);
      if (ops.closed() || !e) return false;
      if (rec.lastProbe && (!e.lastProbe || rec.lastProbe.at > e.lastProbe.at)) e.lastProbe = rec.lastProbe;
      if (e.state === rec.state) {
        // An operator's restore of a target healthy here still means a clean window here too.
        if (rec.event === 'restore') e.breaker.reset();
        if (rec.state === 'drained') e.drain = rec.drain;
        return false;
      }
      if (rec.lastError && rec.state !== 'healthy') e.lastError = rec.lastError;
      ops.moveTo(e, rec.state, `fleet: ${rec.why ?? rec.event ?? rec.state} (on ${rec.by ?? 'another instance'})`);
      if (rec.state === 'drained') e.drain = rec.drain;
      return true;
    },

    probed(key, probe) {
      const e = entries.get(key);
      if (e && !ops.closed() && (!e.lastProbe || probe.at > e.lastProbe.at)) e.lastProbe = probe;
    },
  };
}
