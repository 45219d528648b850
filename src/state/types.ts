/**
 * The state module's contracts. Each kind of shared state has one interface and two backends:
 * memory (+ files under the data folder for what must survive a restart) and Redis (when
 * `state.backend: redis`, so several router instances act as one). One contract test suite runs
 * against both. Every Redis call has a timeout; what each feature does while Redis is down is
 * decided per feature (see `StateUnavailableError`).
 */

/** Thrown by a backend that cannot reach its store (Redis down, timed out); callers decide fail-open or fail-closed. */
export class StateUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateUnavailableError';
  }
}

// ---------------------------------------------------------------- virtual keys

/** Limits attached to a key (or a route, or a team). Absent fields: no limit. */
export interface RateLimits {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens per minute (prompt + max_tokens reserved, reconciled with real usage). */
  tpm?: number;
  /** Requests in flight at once. */
  maxInFlight?: number;
}

export type BudgetPeriod = 'day' | 'month' | 'total';

export interface Budget {
  /** Hard limit in USD per period: beyond it requests get 429 insufficient_quota. */
  amountUsd: number;
  period: BudgetPeriod;
  /** Share of the amount (0–1) at which a warning is logged, counted, and the webhook called. */
  softRatio?: number;
}

/** One secret of a key: the current one, or an old one still valid during a rotation's grace period. */
export interface KeySecret {
  /** HMAC-SHA-256(server secret, secret), hex. The secret itself is never stored. */
  hash: string;
  /** Short visible prefix for operators, e.g. "sk-rt-ab12". */
  prefix: string;
  createdAt: string;
  /** ISO time after which this secret no longer works (set on the old secret by a rotation). */
  expiresAt?: string;
}

export interface KeyRecord {
  /** Stable id, e.g. "key_3f9a…"; what logs, metrics and usage records name. */
  id: string;
  name: string;
  /** Owning team (budgets and usage group by it). */
  team?: string;
  /** Routes the key may call; undefined: every route. */
  routes?: string[];
  limits?: RateLimits;
  budget?: Budget;
  metadata?: Record<string, string>;
  createdAt: string;
  expiresAt?: string;
  revokedAt?: string;
  /** Current secret first; older ones only while their grace period lasts. */
  secrets: KeySecret[];
  /** Declared in the config (read-only through the API) or created through the admin API. */
  source: 'config' | 'api';
}

export interface KeyStore {
  get(id: string): Promise<KeyRecord | undefined>;
  /** The key holding a secret with this hash (current or in grace), if any. */
  findByHash(hash: string): Promise<KeyRecord | undefined>;
  list(): Promise<KeyRecord[]>;
  /** Creates or replaces a record (a revocation is a put with revokedAt). Persisted before it resolves. */
  put(record: KeyRecord): Promise<void>;
  /** Called when a record changes anywhere (on any instance with Redis): caches drop it. */
  onChange(listener: (id: string) => void): () => void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- limits and budgets

/**
 * One bucket a request draws from. Rate buckets refill continuously (`limit` per `windowMs`,
 * a token bucket of capacity `limit`); budget buckets are fixed calendar periods (UTC day or
 * month, or forever) holding spend; concurrency buckets count requests in flight.
 */
export type BucketSpec =
  | { kind: 'rate'; key: string; limit: number; windowMs: number; amount: number }
  | { kind: 'period'; key: string; limit: number; period: BudgetPeriod; amount: number }
  | { kind: 'concurrency'; key: string; limit: number };

/** What one bucket looked like after a reservation (or a refusal), for rate-limit headers. */
export interface BucketState {
  key: string;
  limit: number;
  /** What is left after this reservation (never negative). */
  remaining: number;
  /** Time until the bucket is full again (rate), the period ends (period), or 0 (concurrency). */
  resetMs: number;
}

export type ReserveResult =
  | { ok: true; reservation: string; states: BucketState[] }
  /** Nothing was reserved; `refused` is the first bucket that could not take its amount. */
  | { ok: false; refused: string; retryAfterMs: number; states: BucketState[] };

export interface LimiterStore {
  /**
   * Atomically checks every bucket and, only if all can take their amount, takes it (one Lua
   * script on Redis: exact across instances). A reservation holds concurrency slots until
   * `settle`, and expires on its own after `ttlMs` if the instance holding it dies.
   */
  reserve(buckets: BucketSpec[], opts: { ttlMs: number }): Promise<ReserveResult>;
  /**
   * Ends a reservation: releases its concurrency slots and corrects each rate/period bucket by
   * `actual - reserved` for that key (refunds when the real usage was lower, charges more
   * when higher). Idempotent per reservation id.
   */
  settle(reservation: string, actual: Array<{ key: string; amount: number }>): Promise<void>;
  /** Current levels without reserving (admin views, headers on a refusal). */
  peek(buckets: BucketSpec[]): Promise<BucketState[]>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- usage records

/** One usage record per request; never message text. */
export interface UsageRecord {
  time: string;
  requestId: string;
  keyId?: string;
  team?: string;
  route: string;
  provider?: string;
  model?: string;
  /** Token counts by class, as reported by the upstream (or counted). */
  tokens: { prompt: number; completion: number; cachedPrompt?: number; reasoning?: number };
  /** USD; null when a model has no price (never silently 0). */
  costUsd: number | null;
  latencyMs: number;
  ttftMs?: number;
  /** ok, or the error kind / code. */
  outcome: string;
  stream: boolean;
  /** Targets that failed before the one that served, "provider/model:kind". */
  fallbacks?: string[];
  /** Content filter decisions, "direction.filter.category.action" → count (never the matched text). */
  filters?: Record<string, number>;
  traffic?: 'live' | 'shadow';
}

export interface UsageQuery {
  key?: string;
  team?: string;
  route?: string;
  from?: Date;
  to?: Date;
}

export interface UsageSink {
  /** Queues a record; never blocks a request (batched, fsynced in batches). */
  append(record: UsageRecord): void;
  /** Records matching the query, oldest first (bounded by `limit`). */
  query(q: UsageQuery, limit?: number): AsyncIterable<UsageRecord>;
  /** Writes what is queued (clean shutdown loses nothing). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Everything the state module gives the rest of the router. */
export interface StateBackend {
  readonly kind: 'memory' | 'redis';
  keys: KeyStore;
  limiter: LimiterStore;
  usage: UsageSink;
  /** Up or not, for /readyz and metrics. */
  healthy(): boolean;
  close(): Promise<void>;
}
