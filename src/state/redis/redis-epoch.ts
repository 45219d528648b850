import { randomUUID } from 'node:crypto';

import type { Redis } from 'ioredis';

import type { RedisConnection } from './redis-connection.js';

/**
 * Returns the marker, setting it first when it is missing (then nil). KEYS: marker. ARGV: a
 * fresh value.
 */
const EPOCH_LUA = `
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return false
`;

interface EpochScripts {
  llmStateEpoch(marker: string, candidate: string): Promise<string | null>;
}

/**
 * Notices that Redis lost its data while this instance ran: restarted without persistence,
 * flushed, or failed over to a replica that never had it. A marker key holds a random value
 * shared by every instance on the prefix; a Redis without it (or with another instance's newer
 * one) is a Redis that was emptied since this instance last looked. It is read on every
 * reconnect and every `intervalMs` (a FLUSHALL drops no connection), one command each time.
 * A check that fails (Redis down, slow) is skipped: the next one looks again. A marker evicted
 * under an `allkeys-*` maxmemory policy reads as a loss too; what callers do about one (write
 * config keys again) is harmless when nothing was lost.
 */
export class RedisEpoch {
  private epoch: string | undefined;
  private readonly timer: NodeJS.Timeout;
  private checking: Promise<void> | undefined;
  private closed = false;
  private readonly onReady = () => void this.check();

  constructor(
    private readonly conn: RedisConnection,
    private readonly marker: string,
    /** After every look that got an answer: `lost` once per loss noticed (never at this instance's first look). */
    private readonly onChecked: (lost: boolean) => void,
    intervalMs = 5_000,
  ) {
    conn.client.defineCommand('llmStateEpoch', { numberOfKeys: 1, lua: EPOCH_LUA });
    conn.client.on('ready', this.onReady);
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
    if (conn.healthy()) void this.check();
  }

  /** Looks at the marker now (one look at a time); resolves when done, never rejects. */
  check(): Promise<void> {
    if (this.closed || !this.conn.healthy()) return Promise.resolve();
    this.checking ??= this.look().finally(() => (this.checking = undefined));
    return this.checking;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.conn.client.off('ready', this.onReady);
  }

  private async look(): Promise<void> {
    const candidate = randomUUID();
    let found: string | null;
    try {
      found = await this.conn.run('state epoch', (c) => (c as Redis & EpochScripts).llmStateEpoch(this.marker, candidate));
    } catch {
      return;
    }
    const now = found ?? candidate;
    const lost = this.epoch !== undefined && now !== this.epoch;
    this.epoch = now;
    if (!this.closed) this.onChecked(lost);
  }
}
