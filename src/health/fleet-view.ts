import type { FleetTargetView, InstanceView, SharedHealth } from './fleet-types.js';
import type { TargetState } from './target-health.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * What GET /admin/targets shows of the fleet for one target: the shared record (absent: healthy
 * at version 0, changed by nobody), the probation's fleet-wide good count, and each live
 * instance's local state (this one's as it is now, the others' from their last heartbeat).
 */
export function fleetTargetView(input: {
  key: string;
  rec: SharedHealth | undefined;
  good: number | undefined;
  promoteAfter: number;
  self: { id: string; state: TargetState | undefined; at: number };
  instances: readonly InstanceView[];
}): FleetTargetView {
  const { key, rec, self } = input;
  const state = rec?.state ?? 'healthy';
  const others = input.instances.filter((v) => v.id !== self.id && v.targets[key] !== undefined).map((v) => ({ instance: v.id, state: v.targets[key]!, at: new Date(v.at).toISOString() }));
  const mine = self.state ? [{ instance: self.id, state: self.state, at: new Date(self.at).toISOString() }] : [];
  return {
    state,
    version: rec?.ver ?? 0,
    event: rec?.event ?? null,
    changedBy: rec?.by ?? null,
    changedAt: iso(rec?.at),
    since: iso(rec?.since),
    why: rec?.why ?? null,
    lastError: rec?.lastError ? { ...rec.lastError, at: new Date(rec.lastError.at).toISOString() } : null,
    drain: rec?.drain ? { at: new Date(rec.drain.at).toISOString(), by: rec.drain.by ?? null, reason: rec.drain.reason ?? null } : null,
    probation: state === 'probation' ? { good: input.good ?? 0, promoteAfter: input.promoteAfter } : null,
    instances: [...mine, ...others].sort((a, b) => a.instance.localeCompare(b.instance)),
  };
}
