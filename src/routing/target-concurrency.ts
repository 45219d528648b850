/**
 * Per-target concurrency caps with a bounded wait queue: protects an upstream's rate limits and
 * the local model from more live requests than they can take.
 *
 * A cap belongs to the provider + model, not to a route: the same upstream serves several
 * routes, and its limit is one. So every route listing a provider/model shares one pool of
 * `maxConcurrent` slots and one FIFO queue; when routes set different values, the smallest
 * `maxConcurrent`, `maxQueue` and `maxQueueWaitMs` among those set apply (the most protective:
 * any operator who wrote a limit had a reason). Targets without `maxConcurrent` have no pool.
 *
 * A request that finds every slot taken waits in the queue (at most `maxQueue` wait, each at
 * most `maxQueueWaitMs` and never past its own deadline), else it is refused at once, and
 * dispatch moves on to the next target. A refusal says nothing about the target's health.
 */
import type { Target } from '../core/provider.js';
import type { RouteConfig, TargetConfig } from '../config/schema.js';
import type { ChatChunk } from '../core/chat-response.js';
import type { Metrics } from '../observability/metrics.js';

/** `maxQueue` when no route sets it: nobody waits. */
export const DEFAULT_MAX_QUEUE = 0;
/** `maxQueueWaitMs` when no route sets it. */
export const DEFAULT_MAX_QUEUE_WAIT_MS = 1_000;
/** Upper bound of the Retry-After estimate. */
const MAX_RETRY_AFTER_MS = 60_000;
/** Weight of the latest hold time in the running average behind Retry-After. */
const HOLD_EWMA_ALPHA = 0.2;

/** The limits of one target's pool. */
export interface ConcurrencyLimits {
  maxConcurrent: number;
  maxQueue: number;
  maxQueueWaitMs: number;
}

/** A slot held by one call; give it back exactly once (further calls do nothing). */
export interface Slot {
  release(): void;
}

export type AcquireResult =
  | { ok: true; slot: Slot; waitedMs: number }
  /** queue_full: refused at once; wait_timeout: no slot within maxQueueWaitMs; aborted: the signal fired while waiting. */
  | { ok: false; reason: 'queue_full' | 'wait_timeout' | 'aborted'; waitedMs: number; retryAfterMs: number };

/** What one pool looks like now (admin views, tests). */
export interface PoolView extends ConcurrencyLimits {
  provider: string;
  model: string;
  inflight: number;
  queued: number;
}

export type ConcurrencyMetrics = Pick<Metrics, 'targetInflight' | 'targetQueueDepth' | 'targetQueueWait' | 'targetQueueRejections'>;

export interface TargetConcurrencyDeps {
  routes: Record<string, RouteConfig>;
  metrics?: ConcurrencyMetrics;
  /** Milliseconds, monotonic (wait times). */
  now?: () => number;
}

export interface TargetConcurrency {
  /** A slot of `target` now, or after a wait in its queue; a target without a cap always gets one at once. */
  acquire(target: Target, signal: AbortSignal): Promise<AcquireResult>;
  /** Applies the caps of a new config; slots and waiters in flight are kept (a raised cap serves waiters now). */
  configure(routes: Record<string, RouteConfig>): void;
  pools(): PoolView[];
}

const keyOf = (t: Pick<Target, 'provider' | 'model'>) => `${t.provider}/${t.model}`;

const minOf = (values: Array<number | undefined>): number | undefined => {
  const set = values.filter((v): v is number => v !== undefined);
  return set.length ? Math.min(...set) : undefined;
};

/** Each capped target's limits over every route that lists it (smallest wins; see the module comment). */
export function limitsFromRoutes(routes: Record<string, RouteConfig>): Map<string, ConcurrencyLimits & Target> {
  const listed = new Map<string, TargetConfig[]>();
  for (const route of Object.values(routes)) {
    for (const t of route.targets) {
      const k = keyOf(t);
      const list = listed.get(k);
      if (list) list.push(t);
      else listed.set(k, [t]);
    }
  }
  const out = new Map<string, ConcurrencyLimits & Target>();
  for (const [k, list] of listed) {
    const maxConcurrent = minOf(list.map((t) => t.maxConcurrent));
    if (maxConcurrent === undefined) continue;
    out.set(k, {
      provider: list[0]!.provider,
      model: list[0]!.model,
      maxConcurrent,
      maxQueue: minOf(list.map((t) => t.maxQueue)) ?? DEFAULT_MAX_QUEUE,
      maxQueueWaitMs: minOf(list.map((t) => t.maxQueueWaitMs)) ?? DEFAULT_MAX_QUEUE_WAIT_MS,
    });
  }
  return out;
}

interface Waiter {
  enqueuedAt: number;
  /** Hands the waiter its answer and drops its timer and abort listener. */
  settle(result: AcquireResult): void;
}

interface Pool {
  target: Target;
  limits: ConcurrencyLimits;
  inflight: number;
  queue: Waiter[];
  /** Running average of how long a slot is held, for Retry-After. */
  holdMs?: number;
  /** Dropped from the config: still serves its slots and waiters, publishes nothing. */
  retired: boolean;
}

const FREE: AcquireResult = Object.freeze({ ok: true as const, slot: Object.freeze({ release() {} }), waitedMs: 0 });

export function createTargetConcurrency(deps: TargetConcurrencyDeps): TargetConcurrency {
  const now = deps.now ?? (() => performance.now());
  const m = deps.metrics;
  const pools = new Map<string, Pool>();

  const labels = (p: Pool) => ({ provider: p.target.provider, model: p.target.model });
  const publish = (p: Pool) => {
    if (p.retired) return;
    m?.targetInflight.set(labels(p), p.inflight);
    m?.targetQueueDepth.set(labels(p), p.queue.length);
  };

  /** When a slot may free up for one more request: the average hold, spread over the slots, per request ahead. */
  const retryAfter = (p: Pool): number => {
    if (p.holdMs === undefined) return Math.max(p.limits.maxQueueWaitMs, 1);
    const ms = (p.holdMs * (p.queue.length + 1)) / p.limits.maxConcurrent;
    return Math.ceil(Math.min(MAX_RETRY_AFTER_MS, Math.max(1, ms)));
  };

  function grant(p: Pool): Slot {
    p.inflight++;
    const since = now();
    let held = true;
    return {
      release() {
        if (!held) return;
        held = false;
        p.inflight--;
        const ms = now() - since;
        p.holdMs = p.holdMs === undefined ? ms : p.holdMs + HOLD_EWMA_ALPHA * (ms - p.holdMs);
        pump(p);
        publish(p);
      },
    };
  }

  /** Serves waiters, oldest first, while slots are free. */
  function pump(p: Pool): void {
    while (p.inflight < p.limits.maxConcurrent && p.queue.length) {
      const w = p.queue.shift()!;
      const waitedMs = now() - w.enqueuedAt;
      m?.targetQueueWait.observe(labels(p), waitedMs / 1000);
      w.settle({ ok: true, slot: grant(p), waitedMs });
    }
  }

  function refuse(p: Pool, reason: 'queue_full' | 'wait_timeout', waitedMs: number): AcquireResult {
    m?.targetQueueRejections.inc({ ...labels(p), reason });
    return { ok: false, reason, waitedMs, retryAfterMs: retryAfter(p) };
  }

  function configure(routes: Record<string, RouteConfig>): void {
    const next = limitsFromRoutes(routes);
    for (const [k, p] of pools) {
      if (next.has(k)) continue;
      // No cap any more: new requests pass freely; what holds or awaits this pool finishes on it.
      pools.delete(k);
      m?.targetInflight.remove(labels(p));
      m?.targetQueueDepth.remove(labels(p));
      p.retired = true;
    }
    for (const [k, { provider, model, ...limits }] of next) {
      let p = pools.get(k);
      if (!p) pools.set(k, (p = { target: { provider, model }, limits, inflight: 0, queue: [], retired: false }));
      else p.limits = limits;
      pump(p);
      publish(p);
    }
  }

  configure(deps.routes);

  return {
    configure,

    async acquire(target, signal) {
      const p = pools.get(keyOf(target));
      if (!p) return FREE;
      if (signal.aborted) return { ok: false, reason: 'aborted', waitedMs: 0, retryAfterMs: retryAfter(p) };
      // Nobody jumps the queue: a free slot goes to a newcomer only when nobody waits.
      if (p.inflight < p.limits.maxConcurrent && !p.queue.length) {
        const slot = grant(p);
        publish(p);
        return { ok: true, slot, waitedMs: 0 };
      }
      if (p.queue.length >= p.limits.maxQueue) return refuse(p, 'queue_full', 0);
      return new Promise<AcquireResult>((resolve) => {
        const enqueuedAt = now();
        const leave = (reason: 'wait_timeout' | 'aborted') => {
          const i = p.queue.indexOf(waiter);
          if (i === -1) return;
          p.queue.splice(i, 1);
          const waitedMs = now() - enqueuedAt;
          m?.targetQueueWait.observe(labels(p), waitedMs / 1000);
          waiter.settle(reason === 'aborted' ? { ok: false, reason, waitedMs, retryAfterMs: retryAfter(p) } : refuse(p, reason, waitedMs));
          publish(p);
        };
        const onAbort = () => leave('aborted');
        const timer = setTimeout(() => leave('wait_timeout'), p.limits.maxQueueWaitMs);
        const waiter: Waiter = {
          enqueuedAt,
          settle(result) {
            clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
            resolve(result);
          },
        };
        signal.addEventListener('abort', onAbort, { once: true });
        p.queue.push(waiter);
        publish(p);
      });
    },

    pools: () => [...pools.values()].map((p) => ({ ...p.target, ...p.limits, inflight: p.inflight, queued: p.queue.length })),
  };
}

