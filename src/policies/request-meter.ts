/**
 * Limits, cost and the usage ledger for one request: the `before` (count the prompt, reserve
 * requests, tokens, in-flight slots and worst-case cost) and the `after` (settle with what was
 * really used, price it by the target that served, append one usage record, count metrics).
 * It reads the internal schema only; the edge turns its refusals into HTTP answers.
 */
import type { ChatRequest } from '../core/chat-request.js';
import { contentText } from '../core/chat-request.js';
import type { Usage } from '../core/chat-response.js';
import type { Target } from '../core/provider.js';
import type { RouteConfig } from '../config/schema.js';
import { costNanos, nanosToUsd, worstCaseNanos } from '../accounting/cost.js';
import type { Price, PriceBook } from '../accounting/prices.js';
import { countRequestTokens, countTextTokens } from '../accounting/token-accounting.js';
import type { Identity } from '../identity/types.js';
import type { UsageMetrics } from '../observability/usage-metrics.js';
import type { Attempt } from '../routing/attempts.js';
import { estimateTokens } from '../routing/token-count.js';
import type { BucketSpec, Budget, LimiterStore, UsageRecord, UsageSink } from '../state/types.js';
import type { Admission, LimitKind, LimitsPolicy } from './limits-policy.js';

/** What the meter reads from the router in force (getters: config reloads replace them). */
export interface RequestMeterDeps {
  /** The limits policy; undefined before the state backend is open (nothing is limited then). */
  limits: () => LimitsPolicy | undefined;
  prices: () => PriceBook;
  /** The kind of a provider id (`openai`, `llama-cpp`…), for pricing. */
  providerKind: (provider: string) => string | undefined;
  /** `budgets.teams[team]` (own names only). */
  teamBudget: (team: string) => Budget | undefined;
  /** Where usage records go; undefined before the state backend is open. */
  usage: () => UsageSink | undefined;
  /** The limiter, to read a key's budget use after a request (for the budget gauge). */
  limiter?: () => LimiterStore | undefined;
  /** Spend, tokens and refusals (src/observability/usage-metrics.ts). */
  metrics: Pick<UsageMetrics, 'recordUsage' | 'limitRefused' | 'budgetUse'>;
  logger: { warn(obj: object, msg?: string): void };
}

/** How a request ended, as far as accounting cares. */
export interface MeterEnd {
  /** `ok`, or the error kind / code (`rate_limited`, `insufficient_quota`, `client_closed`, `stream_server`…). */
  outcome: string;
  /** The target that served (absent: nothing was served). */
  target?: Target;
  /** Usage the upstream reported. */
  usage?: Usage;
  /**
   * Streams: the text the app received. Used, with the prompt, when no usage was reported
   * (the app left, the stream broke, or the upstream sends none).
   */
  streamedText?: string;
  /** Milliseconds to the first byte of a stream. */
  ttftMs?: number;
  attempts?: readonly Attempt[];
  /** Refused by a limit: which kind (counted in llm_router_limit_refusals_total). */
  limitKind?: LimitKind;
  /** Content filter decisions, "direction.filter.category.action" → count (never the matched text). */
  filters?: Record<string, number>;
}

/** The tokens and cost the meter settled with (also what the usage record says). */
export interface Metered {
  tokens: UsageRecord['tokens'];
  /** Nanodollars; null when the served model has no price. */
  costNanos: number | null;
  /** The usage record appended. */
  record: UsageRecord;
}

/** One request's accounting: begun when it arrives, finished exactly once. */
export interface RequestUsage {
  /** The parsed request (route name, stream flag) once known; `known`: the route exists. */
  request(chat: ChatRequest, known: boolean): void;
  /**
   * Reserves every bucket the request draws from. Throws LimitRefusal (429) or
   * StateUnavailableError (fail-closed). Call once, after the route check.
   */
  admit(chat: ChatRequest, route: RouteConfig): Promise<void>;
  /** x-ratelimit-* headers of the admission ({} before it, or when no bucket applied). */
  headers(): Record<string, string>;
  /** The price of a target (null: unknown). */
  priceOf(target: Target): Price | null;
  /** Cost of reported usage on a target, nanodollars or null (unknown price). */
  costOf(target: Target, usage: Usage): number | null;
  /** Settles, prices and records, once (later calls are ignored). Never throws. */
  finish(end: MeterEnd): Promise<Metered | undefined>;
}

/** USD for the x-router-cost-usd header and `cost_usd`: up to 9 decimals, no exponent, no trailing zeros. */
export function formatUsd(nanos: number): string {
  return nanosToUsd(nanos).toFixed(9).replace(/\.?0+$/, '') || '0';
}

const positive = (details: Record<string, unknown> | undefined, key: string): number | undefined => {
  const v = details?.[key];
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : undefined;
};

/** Record token counts from reported usage (built in the key order the record always had). */
function tokensOf(u: Usage): UsageRecord['tokens'] {
  const cached = positive(u.promptTokensDetails, 'cached_tokens');
  const reasoning = positive(u.completionTokensDetails, 'reasoning_tokens');
  const out: UsageRecord['tokens'] = { prompt: u.promptTokens, completion: u.completionTokens };
  if (cached !== undefined) out.cachedPrompt = cached;
  if (reasoning !== undefined) out.reasoning = reasoning;
  return out;
}

/**
 * `new Date().toISOString()`, formatted once per millisecond: it has millisecond resolution,
 * and a busy router finishes several requests within one.
 */
let isoMs = Number.NaN;
let iso = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    iso = new Date(ms).toISOString();
    isoMs = ms;
  }
  return iso;
}

/** A cheap prompt estimate (no tokenizer): for records where an exact count changes nothing. */
function estimatePrompt(chat: ChatRequest): number {
  let n = 3;
  for (const m of chat.messages) n += 4 + estimateTokens(contentText(m.content));
  return n;
}

/** The tokens a request may use at most: its max_tokens (or the route's default or cap) for every choice. */
export function maxCompletionTokens(chat: ChatRequest, route: RouteConfig): number {
  const cap = route.caps.maxTokens;
  const asked = chat.params.maxTokens ?? route.defaultMaxTokens ?? cap;
  const n = Math.min(Math.max(1, chat.params.n ?? 1), route.caps.maxN);
  return Math.min(asked, cap) * n;
}

/** Whether any limit of the request depends on its token count or cost (only then is the prompt counted up front). */
function countsTokens(identity: Identity, route: RouteConfig, teamBudget: Budget | undefined): boolean {
  const tpm = identity.limits?.tpm ?? route.limits?.perKey?.tpm ?? route.limits?.global?.tpm;
  return tpm !== undefined || identity.budget !== undefined || teamBudget !== undefined;
}

/** What every request's accounting shares: the deps and the pricing. */
interface MeterCore {
  deps: RequestMeterDeps;
  priceOf: (target: Target) => Price | null;
}

/**
 * One request's accounting. A class, not an object of closures: begin runs on every request,
 * and its methods live once on the prototype instead of being allocated per request. Call the
 * methods on the object (`usage.finish(…)`); every caller does.
 */
class MeteredRequest implements RequestUsage {
  private chat: ChatRequest | undefined;
  private routeName = 'unknown';
  private admission: Admission | undefined;
  private limits: LimitsPolicy | undefined;
  /** Prompt tokens counted before dispatch (when a limit needed them). */
  private counted: number | undefined;
  private finished = false;
  /** The meter's pricing (a shared function, not a per-request closure). */
  readonly priceOf: (target: Target) => Price | null;

  constructor(
    private readonly core: MeterCore,
    private readonly requestId: string,
    private readonly identity: Identity | undefined,
    private readonly receivedAt: number,
  ) {
    this.priceOf = core.priceOf;
  }

  request(c: ChatRequest, known: boolean): void {
    this.chat = c;
    this.routeName = known ? c.model : 'unknown';
  }

  async admit(c: ChatRequest, route: RouteConfig): Promise<void> {
    const { deps, priceOf } = this.core;
    const identity = this.identity;
    this.chat = c;
    this.routeName = c.model;
    const limits = (this.limits = deps.limits());
    if (!limits || !identity) return;
    const teamBudget = identity.team !== undefined ? deps.teamBudget(identity.team) : undefined;
    let tokens = 0;
    let worst: number | null = null;
    if (countsTokens(identity, route, teamBudget)) {
      const first = route.targets[0]!;
      const counted = (this.counted = await countRequestTokens(c, first.model));
      const maxOut = maxCompletionTokens(c, route);
      tokens = counted + maxOut;
      for (const t of route.targets) {
        const w = worstCaseNanos(counted, maxOut, priceOf(t));
        if (w !== null && (worst === null || w > worst)) worst = w;
      }
    }
    this.admission = await limits.admit({ route: c.model, identity, routeLimits: route.limits, teamBudget, tokens, worstCaseNanos: worst });
  }

  headers(): Record<string, string> {
    return this.admission?.headers ?? {};
  }

  costOf(target: Target, usage: Usage): number | null {
    return costNanos(usage, this.core.priceOf(target));
  }

  async finish(end: MeterEnd): Promise<Metered | undefined> {
    if (this.finished) return undefined;
    this.finished = true;
    const { deps } = this.core;
    const { identity, chat } = this;
    try {
      let tokens: UsageRecord['tokens'];
      try {
        // Reported usage (the common case) is read synchronously: no promise, no await.
        tokens = end.usage ? tokensOf(end.usage) : !end.target || !chat || end.streamedText === undefined ? { prompt: 0, completion: 0 } : await this.countTokens(end.target, chat, end.streamedText);
      } catch (err) {
        // A tokenizer that fails to load must not keep the reservation (and its in-flight slot) until it expires.
        deps.logger.warn({ requestId: this.requestId, err: (err as Error).message }, 'token count failed; estimating');
        tokens = end.target && chat ? { prompt: this.counted ?? estimatePrompt(chat), completion: estimateTokens(end.streamedText ?? '') } : { prompt: 0, completion: 0 };
      }
      const used = tokens.prompt + tokens.completion;
      let nanos: number | null = 0;
      if (end.target && used > 0) {
        nanos = end.usage ? this.costOf(end.target, end.usage) : costNanos({ promptTokens: tokens.prompt, completionTokens: tokens.completion, totalTokens: used }, this.priceOf(end.target));
      }
      const { admission, limits } = this;
      // Without a reservation settle does nothing: skip its promise.
      if (admission?.reservation && limits) await limits.settle(admission, { tokens: used, costNanos: nanos ?? 0 });
      const target = end.target;
      let fallbacks: string[] | undefined;
      if (end.attempts) {
        for (const a of end.attempts) {
          if (a.outcome !== 'ok' && !(target && a.provider === target.provider && a.model === target.model)) (fallbacks ??= []).push(`${a.provider}/${a.model}:${a.outcome}`);
        }
      }
      // Built field by field rather than with spreads of temporary objects; the key order (what
      // the ledger's JSON lines show) is the one the record always had.
      const r: Partial<Record<keyof UsageRecord, unknown>> = { time: isoNow(), requestId: this.requestId };
      if (identity && identity.kind !== 'anonymous') r.keyId = identity.keyId;
      if (identity?.team !== undefined) r.team = identity.team;
      r.route = this.routeName;
      if (target) {
        r.provider = target.provider;
        r.model = target.model;
      }
      r.tokens = tokens;
      r.costUsd = nanos === null ? null : nanosToUsd(nanos);
      r.latencyMs = Math.round(performance.now() - this.receivedAt);
      if (end.ttftMs !== undefined) r.ttftMs = Math.round(end.ttftMs);
      r.outcome = end.outcome;
      r.stream = chat?.stream ?? false;
      if (fallbacks) r.fallbacks = fallbacks;
      if (end.filters && Object.keys(end.filters).length) r.filters = end.filters;
      r.traffic = 'live';
      const record = r as UsageRecord;
      deps.usage()?.append(record);
      deps.metrics.recordUsage(record);
      if (end.limitKind) deps.metrics.limitRefused(this.routeName, end.limitKind);
      if (admission) this.budgetGauge(admission);
      return { tokens, costNanos: nanos, record };
    } catch (err) {
      deps.logger.warn({ requestId: this.requestId, err: (err as Error).message }, 'usage accounting failed');
      return undefined;
    }
  }

  /**
   * Nothing reported: what was sent and what the app received (an abort, a broken stream).
   * Exact counts where a token or budget limit applied (its tokenizer is loaded already: the
   * prompt was counted at admission); an estimate otherwise, so that accounting for an
   * interrupted stream never stalls the event loop loading a tokenizer (~0.5 s).
   */
  private async countTokens(target: Target, chat: ChatRequest, text: string): Promise<UsageRecord['tokens']> {
    const precise = !!this.admission?.planned.some((p) => p.role === 'tokens' || p.role === 'budget');
    const prompt = this.counted ?? (precise ? await countRequestTokens(chat, target.model) : estimatePrompt(chat));
    const completion = !text ? 0 : precise ? await countTextTokens(text, target.model) : estimateTokens(text);
    return { prompt, completion };
  }

  /** The share of its budget the key has spent now, for llm_router_budget_use_ratio (only when the key has a budget bucket). */
  private budgetGauge(a: Admission): void {
    const identity = this.identity;
    if (!identity) return;
    for (const p of a.planned) {
      // The prefix string is built only for budget buckets: most admissions have none.
      if (p.role !== 'budget' || !p.spec.key.startsWith(`budget:key:${identity.keyId}:`)) continue;
      const limiter = this.core.deps.limiter?.();
      if (limiter) void this.peekBudget(limiter, identity.keyId, p.spec);
      return;
    }
  }

  private async peekBudget(limiter: LimiterStore, keyId: string, spec: BucketSpec): Promise<void> {
    try {
      const [s] = await limiter.peek([spec]);
      if (s && s.limit > 0) this.core.deps.metrics.budgetUse(keyId, (s.limit - s.remaining) / s.limit);
    } catch {
      // A gauge is not worth an error: the next request updates it.
    }
  }
}

/** Accounting for requests: see the module comment. */
export function createRequestMeter(deps: RequestMeterDeps) {
  const priceOf = (target: Target): Price | null => {
    const kind = deps.providerKind(target.provider);
    return kind === undefined ? null : deps.prices().priceFor({ provider: target.provider, providerKind: kind, model: target.model });
  };
  const core: MeterCore = { deps, priceOf };

  return {
    /** Starts the accounting of a request that arrived at `receivedAt` (performance.now()). */
    begin(ctx: { requestId: string; identity: Identity | undefined; receivedAt: number }): RequestUsage {
      return new MeteredRequest(core, ctx.requestId, ctx.identity, ctx.receivedAt);
    },
  };
}

export type RequestMeter = ReturnType<typeof createRequestMeter>;
