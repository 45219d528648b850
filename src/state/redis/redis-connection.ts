import { Redis, type RedisOptions } from 'ioredis';

import { silentLogger, type StateLogger } from '../state-logger.js';
import type { RedisStateConfig } from '../state-schema.js';
import { StateUnavailableError } from '../types.js';

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

/**
 * One ioredis client with the state module's failure rules: `run()` rejects with
 * `StateUnavailableError` at once while disconnected, when `maxQueuedCommands` calls already
 * wait, or after `commandTimeoutMs`; every other failure of the store is reported the same way
 * (with its cause), so callers have one thing to decide on.
 */
export class RedisConnection {
  readonly client: Redis;
  private pending = 0;
  private closed = false;
  private wasUp = false;
  private downLogged = false;

  constructor(
    readonly config: RedisStateConfig,
    private readonly logger: StateLogger = silentLogger,
    private readonly role = 'state',
  ) {
    this.client = new Redis(config.url, redisOptions(config));
    this.watch(this.client);
    this.client.connect().catch(() => undefined); // failures arrive as 'error' events; reconnect is automatic
  }

  /** Connected and past the ready check. */
  healthy(): boolean {
    return !this.closed && this.client.status === 'ready';
  }

  /** Resolves true once ready, or false after `timeoutMs` (start-up then goes on degraded). */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.healthy()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref();
      this.client.on('ready', onReady);
    });
  }

  /** Runs one state call under the failure rules above. */
  async run<T>(what: string, fn: (client: Redis) => Promise<T>): Promise<T> {
    if (this.closed) throw new StateUnavailableError(`Redis ${what}: state store closed`);
    if (this.client.status !== 'ready') throw new StateUnavailableError(`Redis ${what}: not connected (${this.client.status})`);
    if (this.pending >= this.config.maxQueuedCommands) {
      throw new StateUnavailableError(`Redis ${what}: ${this.pending} calls already waiting (maxQueuedCommands)`);
    }
    this.pending++;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StateUnavailableError(`Redis ${what}: no answer within ${this.config.commandTimeoutMs} ms`)), this.config.commandTimeoutMs);
    });
    const call = fn(this.client);
    call.catch(() => undefined); // it may settle after the timeout won the race
    try {
      return await Promise.race([call, timeout]);
    } catch (err) {
      if (err instanceof StateUnavailableError) throw err;
      throw new StateUnavailableError(`Redis ${what} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
      this.pending--;
    }
  }

  /**
   * A second connection for SUBSCRIBE (a subscribed connection cannot run other commands).
   * No auto-resubscribe: the owner subscribes on every 'ready', which also tells it that
   * messages may have been missed while the connection was down.
   */
  subscriber(): Redis {
    const sub = new Redis(this.config.url, { ...redisOptions(this.config), autoResubscribe: false });
    this.watch(sub, 'subscriber');
    sub.connect().catch(() => undefined);
    return sub;
  }

  /** Calls waiting for a reply, for metrics. */
  inFlight(): number {
    return this.pending;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await quit(this.client, this.config.commandTimeoutMs);
  }

  /** Logs the first error of an outage and the recovery, not every reconnect attempt. */
  private watch(client: Redis, role = this.role): void {
    client.on('error', (err: Error) => {
      if (this.closed || this.downLogged) return;
      this.downLogged = true;
      this.logger.warn({ role, err: err.message }, 'Redis state store unreachable; reconnecting');
    });
    if (client !== this.client) return;
    client.on('ready', () => {
      if (this.downLogged) this.logger.info({ role }, 'Redis state store reachable again');
      this.downLogged = false;
      this.wasUp = true;
    });
    client.on('close', () => {
      if (this.closed || this.downLogged || !this.wasUp) return;
      this.downLogged = true;
      this.logger.warn({ role }, 'Redis state store connection lost; reconnecting');
    });
  }
}

/** QUIT politely, but never wait longer than `timeoutMs` for it; then drop the socket. */
export async function quit(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    await Promise.race([client.quit().catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }
  client.disconnect(false);
}
