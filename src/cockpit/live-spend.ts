import type { KeyView } from '../identity/key-view.js';
import { round, sumOf, total, type Frame } from './dashboard-metrics.js';
import type { MetricSampler } from './metric-sampler.js';

export interface KeySpend {
  key: string;
  name: string | null;
  team: string | null;
  costUsd: number;
  /** Since the dashboard started sampling. */
  costUsdTotal: number;
  promptTokens: number;
  completionTokens: number;
}

export interface TeamSpend {
  team: string;
  keys: number;
  costUsd: number;
  promptTokens: number;
  completionTokens: number;
}

export interface SpendView {
  costUsd: number;
  /** The biggest spenders (at most MAX_ROWS); `moreKeys` counts the rest. */
  keys: KeySpend[];
  moreKeys: number;
  teams: TeamSpend[];
  moreTeams: number;
}

/** Rows of each spend table sent to the page. */
export const MAX_ROWS = 50;

/** A team name for keys without one (legacy keys, JWT subjects, keys outside the key store). */
export const NO_TEAM = '(no team)';

/**
 * Spend and tokens per key over the frame, from `llm_router_cost_usd_total{key}` and
 * `llm_router_key_tokens_total{key,type}`; names and teams come from the key list (past the
 * metrics' key label cap, keys are counted under "other"; exact figures per key and team are
 * in the usage ledger: GET /admin/usage or the dashboard's ledger report).
 */
export function spendView(sampler: MetricSampler, f: Frame, keys: readonly KeyView[]): SpendView {
  const byId = new Map(keys.map((k) => [k.id, k]));
  const rows = new Map<string, KeySpend>();
  const row = (key: string) => {
    let r = rows.get(key);
    if (!r) {
      const k = byId.get(key);
      rows.set(key, (r = { key, name: k?.name ?? null, team: k?.team ?? null, costUsd: 0, costUsdTotal: 0, promptTokens: 0, completionTokens: 0 }));
    }
    return r;
  };
  for (const g of sampler.groups('cost')) {
    const r = row(g.labels.key!);
    r.costUsd += sumOf(g, f)[0]!;
    r.costUsdTotal += g.series.total[0]!;
  }
  for (const g of sampler.groups('keyTokens')) {
    const n = sumOf(g, f)[0]!;
    if (g.labels.type === 'prompt') row(g.labels.key!).promptTokens += n;
    else if (g.labels.type === 'completion') row(g.labels.key!).completionTokens += n;
  }
  const list = [...rows.values()].filter((r) => r.costUsd > 0 || r.promptTokens > 0 || r.completionTokens > 0 || r.costUsdTotal > 0);
  const teams = new Map<string, TeamSpend>();
  for (const r of list) {
    const name = r.team ?? NO_TEAM;
    let t = teams.get(name);
    if (!t) teams.set(name, (t = { team: name, keys: 0, costUsd: 0, promptTokens: 0, completionTokens: 0 }));
    t.keys++;
    t.costUsd += r.costUsd;
    t.promptTokens += r.promptTokens;
    t.completionTokens += r.completionTokens;
  }
  const money = <T extends { costUsd: number }>(x: T) => ({ ...x, costUsd: round(x.costUsd, 9) });
  const keyRows = list.map((r) => ({ ...money(r), costUsdTotal: round(r.costUsdTotal, 9) })).sort((a, b) => b.costUsd - a.costUsd || b.costUsdTotal - a.costUsdTotal);
  const teamRows = [...teams.values()].map(money).sort((a, b) => b.costUsd - a.costUsd);
  return {
    costUsd: round(list.reduce((s, r) => s + r.costUsd, 0), 9),
    keys: keyRows.slice(0, MAX_ROWS),
    moreKeys: Math.max(0, keyRows.length - MAX_ROWS),
    teams: teamRows.slice(0, MAX_ROWS),
    moreTeams: Math.max(0, teamRows.length - MAX_ROWS),
  };
}

export interface CountRow {
  labels: Record<string, string>;
  count: number;
}

/** Non-zero window sums of a counter's groups, largest first. */
export function countsOf(sampler: MetricSampler, id: 'fallbacks' | 'refusals', f: Frame): CountRow[] {
  return sampler
    .groups(id)
    .map((g) => ({ labels: g.labels, count: sumOf(g, f)[0]! }))
    .filter((r) => r.count > 0)
    .sort((a, b) => b.count - a.count);
}

export interface CacheView {
  /** Lookups by result (hit, stale, miss, bypass, coalesced). */
  results: Record<string, number>;
  /** Answers served again (hit, stale, coalesced) over lookups that could be (all but bypass); null with none. */
  hitRatio: number | null;
}

export function cacheView(sampler: MetricSampler, f: Frame): CacheView {
  const results: Record<string, number> = {};
  for (const g of sampler.groups('cache')) results[g.labels.result!] = (results[g.labels.result!] ?? 0) + sumOf(g, f)[0]!;
  const served = (results.hit ?? 0) + (results.stale ?? 0) + (results.coalesced ?? 0);
  const eligible = served + (results.miss ?? 0);
  return { results, hitRatio: eligible > 0 ? round(served / eligible, 4) : null };
}

export interface LocalModelView {
  provider: string;
  /** Completion tokens per second of live traffic: over the last 10 s, and over the frame. */
  tokensPerSecond: { now: number; window: number };
  /** Requests waiting for a concurrency slot of the provider's targets (only with `maxConcurrent`). */
  queueDepth: number | null;
  inflight: number | null;
}

/**
 * The in-process models (providers of kind llama-cpp). Their worker queue has no metric of its
 * own, so this shows what the registry has: completion tokens per second from
 * `llm_router_tokens_total`, and the per-target concurrency gauges when the route caps them.
 */
export function localModelsView(sampler: MetricSampler, f: Frame): LocalModelView[] {
  const local = sampler.gauge('providers').filter((p) => p.labels.kind === 'llama-cpp' && p.value > 0);
  const recent: Frame = { ...f, from: f.now - 10_000, to: f.now + 1, stepMs: 10_001, seconds: 10 };
  return local.map(({ labels: { provider } }) => {
    const mine = (l: Record<string, string>) => l.provider === provider && l.type === 'completion' && l.traffic === 'live';
    const gauge = (id: 'queueDepth' | 'inflight') => {
      const rows = sampler.gauge(id).filter((g) => g.labels.provider === provider);
      return rows.length ? rows.reduce((s, g) => s + g.value, 0) : null;
    };
    return {
      provider: provider!,
      tokensPerSecond: { now: round(total(sampler, 'tokens', recent, mine) / 10, 2), window: round(total(sampler, 'tokens', f, mine) / f.seconds, 2) },
      queueDepth: gauge('queueDepth'),
      inflight: gauge('inflight'),
    };
  });
}
