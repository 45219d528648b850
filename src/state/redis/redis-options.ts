/**
 * The ioredis settings and the polite QUIT shared by every Redis connection of the state
 * module, with no runtime import of ioredis: modules that are loaded whatever the backend
 * (job, fleet and stream stores reached from the runtime) use these, so a router on the memory
 * backend never loads ioredis (~15 MiB of idle RSS). ioredis itself is loaded by redis-connection.ts,
 * which only the Redis backend imports (dynamically, see state/index.ts).
 */
import type { Redis, RedisOptions } from 'ioredis';

import type { RedisStateConfig } from '../state-schema.js';

/**
 * ioredis options for a state connection. Each choice serves one rule: a state call either
 * answers within `commandTimeoutMs` or fails with `StateUnavailableError`, and nothing piles up
 * while Redis is away.
 *
 * - `enableOfflineQueue: false`: while disconnected a command fails at once instead of waiting
 *   in an unbounded queue for a reconnect (callers fall back or answer 503 immediately). The
 *   bound the config calls `maxQueuedCommands` is enforced by `RedisConnection.run` on calls
 *   awaiting a reply.
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: a command in flight
 *   when the connection drops fails then, never resent after the reconnect: a resent reserve
 *   might take tokens twice, and its caller has already moved on.
 * - `commandTimeout`: ioredis rejects a command unanswered after this long (run() also races
 *   its own timer, which covers calls made of several commands).
 * - `connectTimeout`: a connect attempt to a black-holed host gives up after this long.
 * - `retryStrategy`: reconnect forever, 50 ms doubling to at most 2 s, so recovery is automatic
 *   and quick after a Redis restart.
 * - `lazyConnect`: the first connect is started by the caller, whose promise rejection is handled.
 * - The key prefix is applied by this module, not by ioredis `keyPrefix` (which does not reach
 *   keys built inside Lua scripts, SCAN patterns or pub/sub channels).
 */
export function redisOptions(config: RedisStateConfig): RedisOptions {
  const tls = config.tls === true || (config.tls === undefined && config.url.startsWith('rediss://')) ? {} : config.tls || undefined;
  return {
    ...(config.username !== undefined ? { username: config.username } : {}),
    ...(config.password !== undefined ? { password: config.password } : {}),
    ...(tls ? { tls } : {}),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: config.commandTimeoutMs,
    connectTimeout: config.connectTimeoutMs,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    enableReadyCheck: true,
    lazyConnect: true,
  };
}

/** QUIT politely, but never wait longer than `timeoutMs` for it; then drop the socket. */
export async function quit(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    await Promise.race([client.quit().catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }
  client.disconnect(false);
}
