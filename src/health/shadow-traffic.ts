import type { Logger } from 'pino';
import type { ChatRequest } from '../core/chat-request.js';
import type { Target } from '../core/provider.js';
import { unfitReasonSync } from '../routing/fit.js';
import type { HealthMetrics } from './health-metrics.js';
import type { ShadowSlot } from './fleet-types.js';
import { runShadowCall, shadowCopy, type ShadowVerdict } from './shadow-call.js';
import { clipMessage, type HealthError, type TargetHealth } from './target-health.js';

/** A finished shadow call, for cost accounting and logs beyond the gate's own metrics. */
export interface ShadowResult extends ShadowVerdict {
  /** The live route whose request was mirrored. */
  route: string;
  target: Target;
  requestId: string;
}

export interface ShadowTrafficDeps {
  now: () => number;
  random: () => number;
  logger: Logger;
  metrics?: HealthMetrics;
  onShadow?: (result: ShadowResult) => void;
  /**
   * A shadow call started in `epoch` of the target ended (or, with `slot`, was given up before
   * it started); the state machine decides what it means and settles the slot.
   */
  settled: (e: TargetHealth, verdict: ShadowVerdict, error: HealthError | undefined, epoch: number, slot?: ShadowSlot) => void;
  /**
   * One of the fleet's shadow slots for the target (several instances share its budget), or
   * undefined when the fleet has none free. Absent: the local cap alone decides, at once.
   */
  slot?: (e: TargetHealth) => Promise<ShadowSlot | undefined>;
}

/**
 * Mirrors sampled live requests to targets on probation: sampling, the per-target concurrency
 * cap, the calls themselves (in the background, never awaited by the live path), and their
 * bookkeeping (stats for the admin view, metrics, shadow token usage, the onShadow hook).
 */
export function createShadowTraffic(deps: ShadowTrafficDeps) {
  const { now, logger: log, metrics: m } = deps;

  function skipped(e: TargetHealth): void {
    e.shadows.skipped++;
    m?.shadowCalls.inc({ provider: e.target.provider, model: e.target.model, outcome: 'skipped' });
  }

  function start(e: TargetHealth, route: string, req: ChatRequest): void {
    if (e.inFlight.size >= e.settings.shadow.maxConcurrent) return skipped(e);
    // The local slot is held while the fleet is asked, so one instance never asks for more.
    const ctl = new AbortController();
    e.inFlight.add(ctl);
    const epoch = e.epoch;
    if (!deps.slot) return call(e, route, req, ctl, epoch, undefined);
    void deps
      .slot(e)
      .then((slot) => {
        if (!slot) {
          e.inFlight.delete(ctl);
          return skipped(e);
        }
        if (ctl.signal.aborted || e.epoch !== epoch) {
          e.inFlight.delete(ctl);
          return deps.settled(e, { outcome: 'cancelled', latencyMs: 0 }, undefined, epoch, slot);
        }
        call(e, route, req, ctl, epoch, slot);
      })
      .catch((err: unknown) => {
        e.inFlight.delete(ctl);
        log.error({ target: e.key, err: (err as Error).message }, 'shadow slot request failed');
      });
  }

  function call(e: TargetHealth, route: string, req: ChatRequest, ctl: AbortController, epoch: number, slot: ShadowSlot | undefined): void {
    const copy = shadowCopy(req);
    void runShadowCall(e.provider, e.target, copy, { timeoutMs: e.settings.shadow.timeoutMs, cancel: ctl.signal, now })
      .then((v) => {
        e.inFlight.delete(ctl);
        settle(e, route, copy, v, epoch, slot);
      })
      .catch((err: unknown) => {
        e.inFlight.delete(ctl);
        log.error({ target: e.key, err: (err as Error).message }, 'shadow call bookkeeping failed');
      });
  }

  function settle(e: TargetHealth, route: string, req: ChatRequest, v: ShadowVerdict, epoch: number, slot: ShadowSlot | undefined): void {
    const labels = { provider: e.target.provider, model: e.target.model };
    const at = now();
    e.shadows[v.outcome]++;
    e.shadows.last = { at, outcome: v.outcome, latencyMs: v.latencyMs, ...(v.ttftMs !== undefined ? { ttftMs: v.ttftMs } : {}) };
    const error: HealthError | undefined = v.error && { at, source: 'shadow', kind: v.error.kind, message: clipMessage(v.error.message) };
    if (error) e.shadows.lastError = error;
    m?.shadowCalls.inc({ ...labels, outcome: v.outcome });
    if (v.outcome !== 'cancelled') m?.shadowLatency.observe(labels, v.latencyMs / 1000);
    if (v.usage && m?.tokens) {
      m.tokens.inc({ route, provider: e.target.provider, type: 'prompt', traffic: 'shadow' }, v.usage.promptTokens);
      m.tokens.inc({ route, provider: e.target.provider, type: 'completion', traffic: 'shadow' }, v.usage.completionTokens);
    }
    try {
      deps.onShadow?.({ ...v, route, target: e.target, requestId: req.meta.requestId });
    } catch (err) {
      log.error({ err: (err as Error).message }, 'onShadow hook threw');
    }
    deps.settled(e, v, error, epoch, slot);
  }

  return {
    /**
     * After a live request of `route` was served by `servedBy`: each other target of the route
     * on probation that could serve the request gets a copy with probability `sampleRate`.
     */
    mirror(targets: readonly TargetHealth[], route: string, req: ChatRequest, servedBy: Target): void {
      // Dispatch counted the prompt when some target needed it; a fit nobody counted reads as
      // unfit and the sample is skipped (never a second count on the event loop).
      for (const e of targets) {
        if (e.state !== 'probation' || (e.target.provider === servedBy.provider && e.target.model === servedBy.model)) continue;
        // A request the target cannot serve says nothing about its health.
        if (unfitReasonSync(req, e.provider.capabilities(e.target.model), e.target.model)) continue;
        if (deps.random() >= e.settings.shadow.sampleRate) continue;
        start(e, route, req);
      }
    },

    /** Aborts the target's shadow calls in flight; they settle as `cancelled`. */
    cancel(e: TargetHealth): void {
      for (const ctl of e.inFlight) ctl.abort();
      e.inFlight.clear();
    },
  };
}
