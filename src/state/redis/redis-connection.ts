import { Redis } from 'ioredis';

import { silentLogger, type StateLogger } from '../state-logger.js';
import type { RedisStateConfig } from '../state-schema.js';
import { StateUnavailableError } from '../types.js';
import { quit, redisOptions } from './redis-options.js';

// Kept here too for existing callers; modules that must not load ioredis import redis-options.js.
export { quit, redisOptions } from './redis-options.js';

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
