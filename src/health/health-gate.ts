import type { Logger } from 'pino';
import type { RouteConfig } from '../config/schema.js';
import type { ChatRequest } from '../core/chat-request.js';
import { countsAgainstHealth, type ProviderError } from '../core/provider-error.js';
import type { Provider, Target } from '../core/provider.js';
import type { CallOutcome, TargetGate } from '../routing/target-gate.js';
import { createBreaker } from './breaker.js';
import type { FleetEventType, FleetHealth, FleetLink, FleetStatus, ShadowSlot, Transition } from './fleet-types.js';
import { gateFleetFace, shadowLimits } from './gate-fleet-face.js';
import type { HealthMetrics } from './health-metrics.js';
import { createProbeSchedule } from './probe-schedule.js';
import type { ShadowVerdict } from './shadow-call.js';
import { createShadowTraffic, type ShadowResult } from './shadow-traffic.js';
import { TARGET_STATES, clipMessage, toView, type HealthError, type TargetHealth, type TargetSettings, type TargetState, type TargetView } from './target-health.js';

import type { AdmitOptions } from '../routing/target-gate.js';
export type { AdmitOptions } from '../routing/target-gate.js';

export type { ShadowResult } from './shadow-traffic.js';

export interface HealthGateDeps {
  routes: Record<string, RouteConfig>;
  /** Enabled providers; targets of other providers are not watched (and always admitted). */
  providers: ReadonlyMap<string, Provider>;
  logger: Logger;
  metrics?: HealthMetrics;
  /** Wall-clock milliseconds (shown as ISO times in the admin view). */
  now?: () => number;
  random?: () => number;
  onShadow?: (result: ShadowResult) => void;
  /** The gate of the config being replaced: its states carry over (see `snapshot`). */
  previous?: Pick<HealthGate, 'snapshot'>;
  /**
   * Shared health across router instances (state.backend redis): one per process, passed to
   * every gate built for a config. Absent: this instance decides alone (one instance, memory).
   */
  fleet?: FleetHealth;
}

export type AdminResult = { ok: true; target: TargetView } | { ok: false; code: 'target_not_found' | 'not_drained'; message: string };

/** What one target's health looks like to the gate built for the next config. */
export type CarriedHealth = Pick<TargetHealth, 'provider' | 'state' | 'since' | 'openedAt' | 'nextProbeAt' | 'lastError' | 'lastProbe' | 'probes' | 'good' | 'shadows' | 'drain'>;

export interface HealthGate extends TargetGate {
  admits(route: string, target: Target, opts?: AdmitOptions): boolean;
  served(route: string, req: ChatRequest, servedBy: Target): void;
  targets(): TargetView[];
  target(provider: string, model: string): TargetView | undefined;
  /** Operator hold: no live traffic, no probes, no shadows. */
  drain(provider: string, model: string, note?: { by?: string; reason?: string }): AdminResult;
  /** Back to healthy with a clean breaker window, whatever the state. */
  restore(provider: string, model: string): AdminResult;
  /** Drained → open: probes resume and the target earns its way back. */
  release(provider: string, model: string): AdminResult;
  snapshot(): ReadonlyMap<string, CarriedHealth>;
  /**
   * With a fleet: waits for this instance's writes in flight, then reads the shared state (and
   * heals a local state that differs), so the views show what Redis holds. Without: resolves.
   */
  refresh(): Promise<void>;
  /** The fleet layer's status (instance id, Redis reachable), or undefined without a fleet. */
  fleet(): FleetStatus | undefined;
  /** Stops probe timers, cancels shadow calls, shuts the breakers down and detaches from the fleet. */
  close(): void;
}

export const targetKey = (t: Target): string => `${t.provider}/${t.model}`;
const settingsOf = (r: RouteConfig): TargetSettings => ({ breaker: r.breaker, healthCheck: r.healthCheck, shadow: r.shadow });

/**
 * The health gate: one breaker and one state machine per target (provider + model), shared by
 * every route listing the target, since an outage belongs to the provider, not to a route. A
 * target runs under the breaker, healthCheck and shadow settings of the first route (in config
 * order) that lists it; a later route with other settings gets a warning.
 */
export function createHealthGate(deps: HealthGateDeps): HealthGate {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const log = deps.logger.child({ component: 'health' });
  const m = deps.metrics;
  const entries = new Map<string, TargetHealth>();
  const byRoute = new Map<string, TargetHealth[]>();
  let closed = false;
  let link: FleetLink | undefined;
  const shadowTraffic = createShadowTraffic({
    now,
    random,
    logger: log,
    metrics: m,
    onShadow: deps.onShadow,
    settled: (...a) => judged(...a),
    // With a fleet, a shadow call also needs one of the fleet's slots for the target.
    ...(deps.fleet ? { slot: (e: TargetHealth) => link!.shadowSlot(e.key, shadowLimits(e)) } : {}),
  });
  const probes = createProbeSchedule({
    now,
    logger: log,
    metrics: m,
    link: () => link,
    closed: () => closed,
    passed: (e) => decide(e, 'probation', 'health probe passed', 'probation', { state: 'open' }),
  });
  const scheduleProbe = probes.schedule;
  const clearProbe = probes.clear;

  for (const [routeName, route] of Object.entries(deps.routes)) {
    const list: TargetHealth[] = [];
    for (const { provider: id, model } of route.targets) {
      const provider = deps.providers.get(id);
      if (!provider) continue;
      const key = targetKey({ provider: id, model });
      let e = entries.get(key);
      if (!e) entries.set(key, (e = newTarget({ provider: id, model }, provider, routeName, settingsOf(route))));
      else if (!e.routes.includes(routeName)) {
        e.routes.push(routeName);
        if (JSON.stringify(settingsOf(route)) !== JSON.stringify(e.settings)) {
          log.warn({ target: key, route: routeName, uses: e.routes[0] }, 'target listed by several routes with different breaker/healthCheck/shadow settings; the first route’s apply');
        }
      }
      if (!list.includes(e)) list.push(e);
    }
    byRoute.set(routeName, list);
  }
  if (deps.previous) carryOver(deps.previous.snapshot());
  for (const e of entries.values()) publishState(e);
  link = deps.fleet?.attach(gateFleetFace(entries, { closed: () => closed, moveTo }));

  function newTarget(target: Target, provider: Provider, route: string, settings: TargetSettings): TargetHealth {
    const e: TargetHealth = {
      key: targetKey(target),
      target,
      provider,
      routes: [route],
      settings,
      breaker: createBreaker(targetKey(target), settings.breaker, (cause) => tripped(e, cause)),
      state: 'healthy',
      since: now(),
      epoch: 0,
      probes: { passed: 0, failed: 0 },
      good: 0,
      shadows: { good: 0, bad: 0, inconclusive: 0, cancelled: 0, skipped: 0 },
      inFlight: new Set(),
    };
    return e;
  }

  function carryOver(old: ReadonlyMap<string, CarriedHealth>): void {
    for (const [key, c] of old) {
      const e = entries.get(key);
      if (!e) {
        // The target left the config: drop its series rather than leave a stale state behind.
        for (const state of TARGET_STATES) m?.breakerState.remove?.({ provider: key.slice(0, key.indexOf('/')), model: key.slice(key.indexOf('/') + 1), state });
        continue;
      }
      Object.assign(e, { lastError: c.lastError, lastProbe: c.lastProbe, probes: { ...c.probes }, shadows: { ...c.shadows } });
      // An operator's drain outlives any reload; other states only while the provider instance
      // is the same one (a provider rebuilt with a new config deserves a fresh start).
      if (c.state === 'healthy' || (c.state !== 'drained' && c.provider !== e.provider)) continue;
      Object.assign(e, { state: c.state, since: c.since, openedAt: c.openedAt, good: c.good, drain: c.drain });
      if (c.state === 'open') scheduleProbe(e, c.nextProbeAt === undefined ? 0 : Math.max(0, c.nextProbeAt - now()));
    }
  }

  function publishState(e: TargetHealth): void {
    for (const state of TARGET_STATES) m?.breakerState.set({ provider: e.target.provider, model: e.target.model, state }, state === e.state ? 1 : 0);
  }

  function moveTo(e: TargetHealth, to: TargetState, why: string): void {
    const from = e.state;
    if (closed || from === to) return;
    e.epoch++;
    clearProbe(e);
    shadowTraffic.cancel(e);
    e.state = to;
    e.since = now();
    e.drain = undefined;
    if (to === 'open' || to === 'drained') e.openedAt ??= e.since;
    if (to === 'probation') e.good = 0;
    if (to === 'healthy') {
      e.openedAt = undefined;
      e.breaker.reset();
    }
    // Probes restart from scratch each time: a target that just failed gets the full rest again.
    if (to === 'open') scheduleProbe(e, e.settings.breaker.openMs);
    m?.transitions.inc({ provider: e.target.provider, model: e.target.model, from, to });
    publishState(e);
    const fields = { provider: e.target.provider, model: e.target.model, from, to, why, lastError: to === 'open' ? e.lastError : undefined };
    if (to === 'open') log.warn(fields, 'target cut off from live traffic');
    else log.info(fields, 'target health changed');
  }

  function tripped(e: TargetHealth, cause: ProviderError): void {
    if (closed || e.state !== 'healthy') return;
    e.lastError = { at: now(), source: 'live', kind: cause.kind, message: clipMessage(cause.detail ?? cause.message) };
    decide(e, 'open', 'breaker opened', 'open', { state: 'healthy' });
  }

  /** A transition this instance decided: applied here at once, shared with the fleet in the background. */
  function decide(e: TargetHealth, to: TargetState, why: string, event: FleetEventType, expect?: Transition['expect']): void {
    const from = e.state;
    moveTo(e, to, why);
    if (from !== to && e.state === to) announce(e, event, why, expect);
  }

  function announce(e: TargetHealth, event: FleetEventType, why: string, expect?: Transition['expect']): void {
    link?.changed(e.key, { event, since: e.since, why, lastError: e.lastError, drain: e.drain, lastProbe: e.lastProbe, ...(expect ? { expect } : {}) });
  }

  /**
   * One good call in probation; enough of them and the target is trusted again. With a fleet the
   * count is the fleet's (one INCR in Redis): the instance whose credit reaches promoteAfter
   * promotes, once for all; while Redis is away each instance counts its own.
   */
  function credit(e: TargetHealth, slot?: ShadowSlot): void {
    if (!link) return creditLocally(e);
    const epoch = e.epoch;
    void link.settle(e.key, slot, true).then((n) => {
      if (closed || e.epoch !== epoch || e.state !== 'probation') return;
      if (n === undefined) return creditLocally(e);
      e.good = Math.max(e.good, n);
      if (n === e.settings.shadow.promoteAfter) decide(e, 'healthy', `${n} good calls in probation across the fleet`, 'promote', { state: 'probation', phase: true });
    });
  }

  function creditLocally(e: TargetHealth): void {
    e.good++;
    if (e.good >= e.settings.shadow.promoteAfter) decide(e, 'healthy', `${e.good} good calls in probation`, 'promote', { state: 'probation', phase: true });
  }

  /** The state machine's reading of a finished shadow call (and its fleet slot's release). */
  function judged(e: TargetHealth, v: ShadowVerdict, error: HealthError | undefined, epoch: number, slot?: ShadowSlot): void {
    const current = !closed && epoch === e.epoch && e.state === 'probation';
    if (v.outcome === 'good' && current) return credit(e, slot);
    if (slot?.fleet) void link?.settle(e.key, slot, false);
    if (current && v.outcome === 'bad') {
      e.lastError = error;
      decide(e, 'open', 'shadow call judged bad', 'open', { state: 'probation', phase: true });
    }
  }

  const viewOf = (e: TargetHealth): TargetView => (link ? { ...toView(e), fleet: link.view(e.key, e.settings.shadow.promoteAfter) } : toView(e));

  const find = (provider: string, model: string) => entries.get(targetKey({ provider, model }));
  const notFound = (provider: string, model: string): AdminResult => ({ ok: false, code: 'target_not_found', message: `No target '${provider}/${model}' is configured on an enabled provider.` });

  return {
    admits(_route, target, opts) {
      const e = entries.get(targetKey(target));
      if (!e || e.state === 'healthy') return true;
      if (e.state === 'probation' && opts?.lastResort) return true;
      if (!opts?.lastResort) e.breaker.reject();
      return false;
    },

    record(_route, target, outcome: CallOutcome) {
      const e = entries.get(targetKey(target));
      if (closed || !e) return;
      if (e.state === 'healthy') return e.breaker.record(outcome);
      // Live calls reach a target on probation only as the last resort: they are evidence too.
      if (e.state !== 'probation') return; // calls let in before the cut-off; the breaker already decided
      if (outcome.ok) credit(e);
      else if (countsAgainstHealth(outcome.error.kind)) {
        e.lastError = { at: now(), source: 'live', kind: outcome.error.kind, message: clipMessage(outcome.error.detail ?? outcome.error.message) };
        decide(e, 'open', 'live call failed in probation', 'open', { state: 'probation', phase: true });
      }
    },

    served(route, req, servedBy) {
      // Runs on the live path after the answer is in hand: nothing here may throw or wait.
      try {
        if (!closed) shadowTraffic.mirror(byRoute.get(route) ?? [], route, req, servedBy);
      } catch (err) {
        log.error({ route, err: (err as Error).message }, 'shadow sampling failed');
      }
    },

    targets: () => [...entries.values()].map(viewOf),
    target(provider, model) {
      const e = find(provider, model);
      return e && viewOf(e);
    },

    drain(provider, model, note) {
      const e = find(provider, model);
      if (!e) return notFound(provider, model);
      if (e.state !== 'drained') {
        const why = note?.reason ? `drained by operator: ${note.reason}` : 'drained by operator';
        moveTo(e, 'drained', why);
        e.drain = { at: now(), by: note?.by, reason: note?.reason === undefined ? undefined : clipMessage(note.reason) };
        announce(e, 'drain', why);
      }
      return { ok: true, target: viewOf(e) };
    },

    restore(provider, model) {
      const e = find(provider, model);
      if (!e) return notFound(provider, model);
      if (e.state === 'healthy') e.breaker.reset();
      else moveTo(e, 'healthy', 'restored by operator');
      // Shared even when healthy here: the others may not be, and their windows start clean too.
      announce(e, 'restore', 'restored by operator');
      return { ok: true, target: viewOf(e) };
    },

    release(provider, model) {
      const e = find(provider, model);
      if (!e) return notFound(provider, model);
      if (e.state !== 'drained') return { ok: false, code: 'not_drained', message: `Target '${e.key}' is ${e.state}, not drained; only a drained target can be released.` };
      moveTo(e, 'open', 'released by operator');
      announce(e, 'release', 'released by operator');
      return { ok: true, target: viewOf(e) };
    },

    snapshot() {
      const out = new Map<string, CarriedHealth>();
      for (const [key, e] of entries) {
        const { provider, state, since, openedAt, nextProbeAt, lastError, lastProbe, probes, good, shadows, drain } = e;
        out.set(key, { provider, state, since, openedAt, nextProbeAt, lastError, lastProbe, probes, good, shadows, drain });
      }
      return out;
    },

    refresh: () => link?.refresh() ?? Promise.resolve(),
    fleet: () => link?.status(),

    close() {
      if (closed) return;
      closed = true;
      link?.detach();
      for (const e of entries.values()) {
        clearProbe(e);
        shadowTraffic.cancel(e);
        e.breaker.shutdown();
      }
    },
  };
}
