import type { Logger } from 'pino';
import type { RouteConfig } from '../config/schema.js';
import type { ChatRequest } from '../core/chat-request.js';
import { countsAgainstHealth, type ProviderError } from '../core/provider-error.js';
import type { Provider, Target } from '../core/provider.js';
import type { CallOutcome, TargetGate } from '../routing/target-gate.js';
import { createBreaker } from './breaker.js';
import type { HealthMetrics } from './health-metrics.js';
import { runProbe } from './probe.js';
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
  /** Stops probe timers, cancels shadow calls and shuts the breakers down. */
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
  const shadowTraffic = createShadowTraffic({ now, random, logger: log, metrics: m, onShadow: deps.onShadow, settled: (...a) => judged(...a) });

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
    moveTo(e, 'open', 'breaker opened');
  }

  function scheduleProbe(e: TargetHealth, delayMs: number): void {
    clearProbe(e);
    e.nextProbeAt = now() + delayMs;
    e.probeTimer = setTimeout(() => void probe(e).catch((err: unknown) => log.error({ target: e.key, err: (err as Error).message }, 'health probe crashed')), delayMs);
    e.probeTimer.unref?.();
  }

  function clearProbe(e: TargetHealth): void {
    if (e.probeTimer) clearTimeout(e.probeTimer);
    e.probing?.abort();
    e.probeTimer = undefined;
    e.probing = undefined;
    e.nextProbeAt = undefined;
  }

  async function probe(e: TargetHealth): Promise<void> {
    e.probeTimer = undefined;
    e.nextProbeAt = undefined;
    const epoch = e.epoch;
    const ctl = (e.probing = new AbortController());
    const r = await runProbe(e.provider, e.target.model, { timeoutMs: e.settings.healthCheck.timeoutMs, cancel: ctl.signal, now });
    if (e.probing === ctl) e.probing = undefined;
    // A probe that outlived its phase (drained, restored, gate closed) is not evidence any more.
    if (closed || e.epoch !== epoch || e.state !== 'open') return;
    e.lastProbe = { at: now(), outcome: r.outcome, latencyMs: r.latencyMs, detail: r.detail === undefined ? undefined : clipMessage(r.detail) };
    m?.probes.inc({ provider: e.target.provider, model: e.target.model, outcome: r.outcome });
    if (r.outcome === 'pass') {
      e.probes.passed++;
      moveTo(e, 'probation', 'health probe passed');
    } else {
      e.probes.failed++;
      log.debug({ target: e.key, outcome: r.outcome, detail: e.lastProbe.detail }, 'health probe failed');
      scheduleProbe(e, e.settings.healthCheck.intervalMs);
    }
  }

  /** One good call in probation; enough of them and the target is trusted again. */
  function credit(e: TargetHealth): void {
    e.good++;
    if (e.good >= e.settings.shadow.promoteAfter) moveTo(e, 'healthy', `${e.good} good calls in probation`);
  }

  /** The state machine's reading of a finished shadow call. */
  function judged(e: TargetHealth, v: ShadowVerdict, error: HealthError | undefined, epoch: number): void {
    if (closed || epoch !== e.epoch || e.state !== 'probation') return;
    if (v.outcome === 'good') credit(e);
    else if (v.outcome === 'bad') {
      e.lastError = error;
      moveTo(e, 'open', 'shadow call judged bad');
    }
  }

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
        moveTo(e, 'open', 'live call failed in probation');
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

    targets: () => [...entries.values()].map(toView),
    target(provider, model) {
      const e = find(provider, model);
      return e && toView(e);
    },

    drain(provider, model, note) {
      const e = find(provider, model);
      if (!e) return notFound(provider, model);
      if (e.state !== 'drained') {
        moveTo(e, 'drained', note?.reason ? `drained by operator: ${note.reason}` : 'drained by operator');
        e.drain = { at: now(), by: note?.by, reason: note?.reason === undefined ? undefined : clipMessage(note.reason) };
      }
      return { ok: true, target: toView(e) };
    },

    restore(provider, model) {
      const e = find(provider, model);
      if (!e) return notFound(provider, model);
      if (e.state === 'healthy') e.breaker.reset();
      else moveTo(e, 'healthy', 'restored by operator');
      return { ok: true, target: toView(e) };
    },

    release(provider, model) {
      const e = find(provider, model);
      if (!e) return notFound(provider, model);
      if (e.state !== 'drained') return { ok: false, code: 'not_drained', message: `Target '${e.key}' is ${e.state}, not drained; only a drained target can be released.` };
      moveTo(e, 'open', 'released by operator');
      return { ok: true, target: toView(e) };
    },

    snapshot() {
      const out = new Map<string, CarriedHealth>();
      for (const [key, e] of entries) {
        const { provider, state, since, openedAt, nextProbeAt, lastError, lastProbe, probes, good, shadows, drain } = e;
        out.set(key, { provider, state, since, openedAt, nextProbeAt, lastError, lastProbe, probes, good, shadows, drain });
      }
      return out;
    },

    close() {
      if (closed) return;
      closed = true;
      for (const e of entries.values()) {
        clearProbe(e);
        shadowTraffic.cancel(e);
        e.breaker.shutdown();
      }
    },
  };
}
