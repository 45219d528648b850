import type { TargetState, TargetView } from '../health/target-health.js';
import { reasonOf } from './target-summary.js';

/** One change of a target's state, as the dashboard saw it. */
export interface TransitionEntry {
  /** When the new state began (the gate's `since`, epoch ms). */
  at: number;
  provider: string;
  model: string;
  /** null: the target was already in `to` when the dashboard first saw it. */
  from: TargetState | null;
  to: TargetState;
  reason: string;
}

export interface TransitionLog {
  /** Compares the gate's targets with the last reading and records what changed. */
  observe(targets: readonly TargetView[]): void;
  /** Newest first. */
  entries(): TransitionEntry[];
  /** The state a target was in before its latest transition, if one was seen. */
  previousState(provider: string, model: string): TargetState | undefined;
}

/**
 * A bounded ring of transitions, found by diffing the gate's views once a second (the gate has
 * no event stream, and this way the dashboard touches nothing of it). A target whose `since`
 * moved without its state changing went through a state and back between two readings: that
 * is recorded too, as a transition to the same state. Targets first seen in a state other than
 * healthy get an entry at their `since` (the router started, or the config was reloaded, with
 * them already cut off).
 */
export function createTransitionLog(max = 200): TransitionLog {
  const last = new Map<string, { state: TargetState; since: string; from?: TargetState }>();
  const ring: TransitionEntry[] = [];
  const push = (e: TransitionEntry) => {
    ring.push(e);
    if (ring.length > max) ring.splice(0, ring.length - max);
  };

  return {
    observe(targets) {
      const seen = new Set<string>();
      for (const t of targets) {
        const key = `${t.provider}/${t.model}`;
        seen.add(key);
        const before = last.get(key);
        const at = Date.parse(t.since);
        if (!before) {
          last.set(key, { state: t.state, since: t.since });
          if (t.state !== 'healthy') push({ at, provider: t.provider, model: t.model, from: null, to: t.state, reason: reasonOf(t) });
          continue;
        }
        if (before.since === t.since && before.state === t.state) continue;
        last.set(key, { state: t.state, since: t.since, from: before.state });
        push({ at, provider: t.provider, model: t.model, from: before.state, to: t.state, reason: reasonOf(t, before.state) });
      }
      // A target that left the config is forgotten; its entries stay until the ring turns.
      for (const key of last.keys()) if (!seen.has(key)) last.delete(key);
    },
    entries: () => [...ring].reverse(),
    previousState: (provider, model) => last.get(`${provider}/${model}`)?.from,
  };
}
