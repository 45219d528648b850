/**
 * Spend, tokens per key, limit refusals, budget use and the state backend's health, on the
 * router's registry (prefix `llm_router_`).
 *
 * Label cardinality is bounded: a Prometheus series per virtual key is fine for hundreds of
 * keys, not for an unbounded number (JWT subjects, keys created by scripts). The first
 * `maxKeys` distinct key ids (default 1000) get their own label value; every later one is
 * counted under `key="other"` (its usage is still exact in `GET /admin/usage`). Routes,
 * providers, models and refusal kinds are capped the same way (`maxValues`, default 200 per
 * label), so a client sending made-up model names cannot grow the registry either. Requests
 * without a key are `key="none"`; a record without a provider or model says `"none"`.
 * The cap counts distinct values since start (a restart starts over).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { StateStats } from '../state/state-stats.js';
import type { UsageRecord } from '../state/types.js';
import { boundCounter, type BoundCounter } from './fast-metrics.js';

export const OTHER = 'other';
export const NONE = 'none';

export interface UsageMetricsOptions {
  /** Distinct key label values kept; later keys are "other". Default 1000. */
  maxKeys?: number;
  /** Distinct values kept per other label (route, provider, model, kind). Default 200. */
  maxValues?: number;
  prefix?: string;
  /**
   * The state backend's snapshot, read at every scrape (so the state gauges are never stale);
   * undefined: none yet. Without it, call `stateStats` yourself.
   */
  state?: () => StateSnapshot | undefined;
}

/** What `stateStats` reads: the backend's kind and health with its counters. */
export interface StateSnapshot extends StateStats {
  backend: 'memory' | 'redis';
  /** The store answers (Redis connected; always true for memory). */
  healthy: boolean;
}

/** The first `max` distinct values pass; later ones become "other". */
class LabelCap {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}
  of(value: string | undefined | null): string {
    if (value === undefined || value === null || value === '') return NONE;
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return OTHER;
    this.seen.add(value);
    return value;
  }
  get size(): number {
    return this.seen.size;
  }
}

/** A positive finite amount, else 0. */
const amount = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

const MODES = ['shared', 'local', 'refusing'] as const;

/**
 * The children recordUsage increments for one (route, provider, model, key), made on first use:
 * once instead of `counter.inc({…labels}, v)` per record, no label object and no label hash
 * per call. A child is bound to its metric, not to a snapshot of the metric's series (it looks
 * the series up at each inc), so it stays right after the metric is reset or a series removed:
 * the next inc creates the series again, exactly as `inc(labels, v)` would.
 */
interface Series {
  route: string;
  provider: string;
  model: string;
  key: string;
  cost?: BoundCounter;
  prompt?: BoundCounter;
  completion?: BoundCounter;
  cachedPrompt?: BoundCounter;
  reasoning?: BoundCounter;
}

/** Series (and cost-unknown children) kept; past it the cache starts over (label caps bound it already). */
const MAX_CACHED_SERIES = 10_000;

type CounterConfig<L extends string> = ConstructorParameters<typeof Counter<L>>[0];

/**
 * A counter of the registry: the one already registered under that name (the router's own
 * metrics may define the same series), or a new one. Label names must agree.
 */
function counterOn<L extends string>(registry: Registry, config: CounterConfig<L>): Counter<L> {
  const existing = registry.getSingleMetric(config.name) as (Counter<L> & { labelNames?: readonly string[] }) | undefined;
  if (!existing) return new Counter(config);
  const want = [...(config.labelNames ?? [])].sort().join(',');
  const have = [...(existing.labelNames ?? [])].sort().join(',');
  if (!(existing instanceof Counter) || want !== have) throw new Error(`metric ${config.name} is already registered with other labels (${have}) or another type`);
  return existing;
}

export function createUsageMetrics(registry: Registry, opts: UsageMetricsOptions = {}) {
  const p = opts.prefix ?? 'llm_router_';
  const keys = new LabelCap(opts.maxKeys ?? 1000);
  const maxValues = opts.maxValues ?? 200;
  const routes = new LabelCap(maxValues);
  const providers = new LabelCap(maxValues);
  const models = new LabelCap(maxValues);
  const kinds = new LabelCap(maxValues);
  const registers = [registry];

  const cost = counterOn(registry, {
    name: `${p}cost_usd_total`,
    help: 'Spend in USD of requests with a known price, by route, provider, model and key (key="other" past the key label cap).',
    labelNames: ['route', 'provider', 'model', 'key'] as const,
    registers,
  });
  const costUnknown = counterOn(registry, {
    name: `${p}cost_unknown_total`,
    help: 'Requests whose cost is unknown (no price for the model), by provider and model.',
    labelNames: ['provider', 'model'] as const,
    registers,
  });
  const keyTokens = counterOn(registry, {
    name: `${p}key_tokens_total`,
    help: 'Tokens by key, route, provider, model and type (prompt, completion, cached_prompt, reasoning; cached and reasoning are parts of prompt and completion).',
    labelNames: ['key', 'route', 'provider', 'model', 'type'] as const,
    registers,
  });
  const refusals = counterOn(registry, {
    name: `${p}limit_refusals_total`,
    help: 'Requests refused by a rate limit or budget (429), by route and the kind of limit hit.',
    labelNames: ['route', 'kind'] as const,
    registers,
  });
  const budget = new Gauge({
    name: `${p}budget_use_ratio`,
    help: 'Share of its budget a key has spent in the current period (1 = exhausted).',
    labelNames: ['key'] as const,
    registers,
  });
  // Registered before the other state metrics: its collect (at scrape time) refreshes them all
  // before the registry reads them.
  const stateUp = new Gauge({
    name: `${p}state_up`,
    help: '1 while the state backend answers (backend="redis": Redis connected), 0 while not. Alert on llm_router_state_up{backend="redis"} == 0.',
    labelNames: ['backend'] as const,
    registers,
    collect() {
      try {
        const snapshot = opts.state?.();
        if (snapshot) stateStats(snapshot);
      } catch {
        // A snapshot that cannot be taken leaves the last values; a scrape never fails for it.
      }
    },
  });
  const limiterMode = new Gauge({
    name: `${p}state_limiter_mode`,
    help: 'Where limits are decided: 1 for the current mode (shared = Redis, local = fail-open per-instance buckets, refusing = fail-closed), 0 for the others.',
    labelNames: ['mode'] as const,
    registers,
  });
  const usageQueued = new Gauge({ name: `${p}usage_queue_depth`, help: 'Usage records waiting to be written.', registers });
  const redisInFlight = new Gauge({ name: `${p}state_redis_in_flight`, help: 'State calls waiting for a Redis reply.', registers });
  const localReserves = new Counter({ name: `${p}state_local_reserves_total`, help: 'Limit reservations answered from local buckets (fail-open while Redis was unavailable).', registers });
  const stateRefused = new Counter({ name: `${p}state_refused_total`, help: 'Limited requests refused because Redis was unavailable (fail-closed).', registers });
  const lostSettles = new Counter({ name: `${p}state_lost_settles_total`, help: 'Reservations whose correction could not reach Redis (released by their ttl, charged as reserved).', registers });
  const modeChanges = new Counter({ name: `${p}state_limiter_transitions_total`, help: 'Switches of the limiter between shared and local/refusing.', registers });
  const usageRecords = new Counter({
    name: `${p}usage_records_total`,
    help: 'Usage records by result: written, dropped (queue full), failed (write error), spilled (Redis down: to the local ledger).',
    labelNames: ['result'] as const,
    registers,
  });

  // Backend counters are totals since the backend opened; the metric counters grow by the
  // difference. A smaller total means a new backend (a reload): it counts from zero.
  const last = new Map<string, number>();
  const grow = (name: string, total: number | undefined, inc: (delta: number) => void) => {
    if (total === undefined || !Number.isFinite(total) || total < 0) return;
    const before = last.get(name) ?? 0;
    const delta = total >= before ? total - before : total;
    last.set(name, total);
    if (delta > 0) inc(delta);
  };

  function stateStats(s: StateSnapshot): void {
    stateUp.reset(); // one series: the backend in force (a restart may change it)
    stateUp.set({ backend: s.backend }, s.healthy ? 1 : 0);
    const mode = s.limiter?.mode;
    if (mode) for (const m of MODES) limiterMode.set({ mode: m }, m === mode ? 1 : 0);
    usageQueued.set(amount(s.usage?.queued));
    if (s.redisInFlight !== undefined) redisInFlight.set(amount(s.redisInFlight));
    grow('localReserves', s.limiter?.localReserves, (d) => localReserves.inc(d));
    grow('refused', s.limiter?.refused, (d) => stateRefused.inc(d));
    grow('lostSettles', s.limiter?.lostSettles, (d) => lostSettles.inc(d));
    grow('transitions', s.limiter?.transitions, (d) => modeChanges.inc(d));
    for (const result of ['written', 'dropped', 'failed', 'spilled'] as const) grow(`usage.${result}`, s.usage?.[result], (d) => usageRecords.inc({ result }, d));
  }

  // route → provider → model → key → Series; provider → model → cost-unknown child.
  const series = new Map<string, Map<string, Map<string, Map<string, Series>>>>();
  const unknown = new Map<string, Map<string, BoundCounter>>();
  let cached = 0;
  /** Room for one more cached entry: drops them all at the cap (children are cheap to make again). */
  const makeRoom = () => {
    if (cached < MAX_CACHED_SERIES) return;
    series.clear();
    unknown.clear();
    cached = 0;
  };

  function seriesOf(route: string, provider: string, model: string, key: string): Series {
    const hit = series.get(route)?.get(provider)?.get(model)?.get(key);
    if (hit) return hit;
    makeRoom();
    let byProvider = series.get(route);
    if (!byProvider) series.set(route, (byProvider = new Map()));
    let byModel = byProvider.get(provider);
    if (!byModel) byProvider.set(provider, (byModel = new Map()));
    let byKey = byModel.get(model);
    if (!byKey) byModel.set(model, (byKey = new Map()));
    const made: Series = { route, provider, model, key };
    byKey.set(key, made);
    cached++;
    return made;
  }

  function unknownOf(provider: string, model: string): BoundCounter {
    const hit = unknown.get(provider)?.get(model);
    if (hit) return hit;
    makeRoom();
    let byModel = unknown.get(provider);
    if (!byModel) unknown.set(provider, (byModel = new Map()));
    const made = boundCounter(costUnknown, { provider, model });
    byModel.set(model, made);
    cached++;
    return made;
  }

  /** key_tokens_total's child of a type (same label object, and key order, as `inc({ key, route, provider, model, type })`). */
  const tokensChild = (s: Series, type: string): BoundCounter => boundCounter(keyTokens, { key: s.key, route: s.route, provider: s.provider, model: s.model, type });

  return {
    /** Counts one finished request's spend and tokens. Never throws (a malformed record counts what it can). */
    recordUsage(record: UsageRecord): void {
      const route = routes.of(record.route);
      const provider = providers.of(record.provider);
      const model = models.of(record.model);
      const key = keys.of(record.keyId);
      const s = seriesOf(route, provider, model, key);
      if (record.costUsd === null || record.costUsd === undefined || !Number.isFinite(record.costUsd)) unknownOf(provider, model).inc();
      else {
        // inc(0) still creates the series: a free local model shows up as spending 0.
        (s.cost ??= boundCounter(cost, { route, provider, model, key })).inc(amount(record.costUsd));
      }
      const t = record.tokens ?? { prompt: 0, completion: 0 };
      // The types in the order the series were always created: prompt, completion, cached_prompt, reasoning.
      let v = amount(t.prompt);
      if (v > 0) (s.prompt ??= tokensChild(s, 'prompt')).inc(v);
      v = amount(t.completion);
      if (v > 0) (s.completion ??= tokensChild(s, 'completion')).inc(v);
      v = amount(t.cachedPrompt);
      if (v > 0) (s.cachedPrompt ??= tokensChild(s, 'cached_prompt')).inc(v);
      v = amount(t.reasoning);
      if (v > 0) (s.reasoning ??= tokensChild(s, 'reasoning')).inc(v);
    },

    /** A request refused by a limit; kind e.g. requests, tokens, inflight, budget. */
    limitRefused(route: string, kind: string): void {
      refusals.inc({ route: routes.of(route), kind: kinds.of(kind) });
    },

    /** Share of a key's budget spent (spent / amount) in its current period. */
    budgetUse(key: string, ratio: number): void {
      if (!Number.isFinite(ratio)) return;
      const label = keys.of(key);
      // Under "other" the latest of many keys would be meaningless: only named keys get a gauge.
      if (label === OTHER) return;
      budget.set({ key: label }, Math.max(0, ratio));
    },

    /** The state backend's health and counters (with `opts.state` this runs at each scrape by itself). */
    stateStats,

    /** Distinct key label values in use (for tests and a log line when the cap is reached). */
    keyLabels: (): number => keys.size,
  };
}

/** A backend's snapshot for `stateStats`. */
export function stateSnapshotOf(backend: { kind: 'memory' | 'redis'; healthy(): boolean; stats(): StateStats }): StateSnapshot {
  return { backend: backend.kind, healthy: backend.healthy(), ...backend.stats() };
}

export type UsageMetrics = ReturnType<typeof createUsageMetrics>;
