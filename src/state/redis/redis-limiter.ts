import { randomUUID } from 'node:crypto';

import type { Redis } from 'ioredis';

import { TOTAL_PERIOD_RESET_MS, validateSpecs } from '../buckets.js';
import type { BucketSpec, BucketState, LimiterStore, ReserveResult } from '../types.js';
import { PEEK_LUA, RESERVE_LUA, SETTLE_LUA } from './limiter-lua.js';
import type { RedisConnection } from './redis-connection.js';

interface LimiterScripts {
  llmReserve(numKeys: number, ...args: string[]): Promise<string>;
  llmSettle(reservationKey: string, actual: string): Promise<number>;
  llmPeek(numKeys: number, ...args: string[]): Promise<string>;
}

interface LuaState {
  r: number;
  t: number;
}

type LuaReserve = { ok: true; states: LuaState[] | Record<string, never> } | { ok: false; refused: number; retry: number; states: LuaState[] };

/** Bucket kind → key infix, so one name used for two kinds never shares storage. */
const INFIX = { rate: 'rl:', period: 'pd:', concurrency: 'cc:' } as const;

/**
 * The limiter shared by every instance: one Lua script per reserve (exact across instances,
 * on the Redis server's clock), one per settle, one per peek. Keys: `<prefix>rl:<bucket>`,
 * `<prefix>pd:<bucket>`, `<prefix>cc:<bucket>`, `<prefix>rs:<reservation>`. A script reads
 * keys named inside the reservation record, so this targets one Redis (standalone or
 * Sentinel), not Redis Cluster.
 *
 * A reserve that timed out on our side may still have run on the server: its tokens and slot
 * stay taken until the reservation's ttl, which is the price of never waiting longer.
 */
export class RedisLimiter implements LimiterStore {
  constructor(
    private readonly conn: RedisConnection,
    private readonly prefix: string,
  ) {
    conn.client.defineCommand('llmReserve', { lua: RESERVE_LUA });
    conn.client.defineCommand('llmSettle', { numberOfKeys: 1, lua: SETTLE_LUA });
    conn.client.defineCommand('llmPeek', { lua: PEEK_LUA, readOnly: true });
  }

  async reserve(buckets: BucketSpec[], opts: { ttlMs: number }): Promise<ReserveResult> {
    validateSpecs(buckets, opts.ttlMs);
    const id = randomUUID();
    const keys = [...buckets.map((b) => this.key(b)), `${this.prefix}rs:${id}`];
    const raw = await this.conn.run('limiter reserve', (c) =>
      this.scripts(c).llmReserve(keys.length, ...keys, specsJson(buckets), id, String(Math.ceil(opts.ttlMs))),
    );
    const result = JSON.parse(raw) as LuaReserve;
    const states = toStates(buckets, result.states);
    if (result.ok) return { ok: true, reservation: id, states };
    return { ok: false, refused: buckets[result.refused - 1]!.key, retryAfterMs: fromLuaReset(result.retry), states };
  }

  async settle(reservation: string, actual: Array<{ key: string; amount: number }>): Promise<void> {
    const amounts: Record<string, number> = {};
    for (const a of actual) if (Number.isFinite(a.amount)) amounts[a.key] = a.amount;
    await this.conn.run('limiter settle', (c) => this.scripts(c).llmSettle(`${this.prefix}rs:${reservation}`, JSON.stringify(amounts)));
  }

  async peek(buckets: BucketSpec[]): Promise<BucketState[]> {
    validateSpecs(buckets);
    const keys = buckets.map((b) => this.key(b));
    const raw = await this.conn.run('limiter peek', (c) => this.scripts(c).llmPeek(keys.length, ...keys, specsJson(buckets)));
    return toStates(buckets, JSON.parse(raw) as LuaState[] | Record<string, never>);
  }

  /** The connection is owned by the backend, which closes it. */
  async close(): Promise<void> {}

  private key(b: BucketSpec): string {
    return `${this.prefix}${INFIX[b.kind]}${b.key}`;
  }

  private scripts(c: Redis): LimiterScripts {
    return c as unknown as LimiterScripts;
  }
}

function specsJson(buckets: BucketSpec[]): string {
  return JSON.stringify(
    buckets.map((b) =>
      b.kind === 'rate'
        ? { k: 'rate', key: b.key, l: b.limit, w: b.windowMs, a: b.amount }
        : b.kind === 'period'
          ? { k: 'period', key: b.key, l: b.limit, p: b.period, a: b.amount }
          : { k: 'concurrency', key: b.key, l: b.limit },
    ),
  );
}

/** cjson encodes an empty array as `{}`: no buckets, no states. */
function toStates(buckets: BucketSpec[], states: LuaState[] | Record<string, never>): BucketState[] {
  const list = Array.isArray(states) ? states : [];
  return buckets.map((b, i) => ({ key: b.key, limit: b.limit, remaining: list[i]?.r ?? 0, resetMs: fromLuaReset(list[i]?.t ?? 0) }));
}

function fromLuaReset(ms: number): number {
  return ms < 0 ? TOTAL_PERIOD_RESET_MS : ms;
}
