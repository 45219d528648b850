import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

import { periodBounds } from '../../../src/state/buckets.js';
import { PERIOD_BOUNDS_LUA } from '../../../src/state/redis/limiter-lua.js';
import type { StateBackend } from '../../../src/state/types.js';
import { describeStateContract } from './state-contract.js';
import { deletePrefix, openRedisBackend, redisStateConfig, runPrefix, TEST_REDIS_URL } from './redis-test-support.js';

const root = await mkdtemp(path.join(tmpdir(), 'llm-router-state-redis-'));
const prefix = runPrefix('contract');
let current = '';
let n = 0;
const opened: StateBackend[] = [];

afterAll(async () => {
  await deletePrefix(TEST_REDIS_URL, prefix);
  await rm(root, { recursive: true, force: true });
});

async function open(keyPrefix: string): Promise<StateBackend> {
  const backend = await openRedisBackend(redisStateConfig(TEST_REDIS_URL, keyPrefix), path.join(root, keyPrefix.replaceAll(':', '_')));
  opened.push(backend);
  return backend;
}

describeStateContract({
  name: 'redis',
  open() {
    current = `${prefix}${n++}:`;
    return open(current);
  },
  peer: () => open(current),
  advance: (ms) => new Promise((r) => setTimeout(r, ms)),
  now: Date.now,
  exactClock: false,
  async closeAll() {
    // close() twice is harmless; the usage test closes its own backend first.
    await Promise.all(opened.splice(0).map((b) => b.close()));
  },
});

describe('redis: Lua period bounds agree with buckets.ts', () => {
  it('for days and months around boundaries, leap years and centuries', async () => {
    const client = new Redis(TEST_REDIS_URL);
    try {
      const times = [
        Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 31, 23, 59, 59, 999), Date.UTC(2026, 1, 28, 12), Date.UTC(2028, 1, 29, 23, 59),
        Date.UTC(2028, 2, 1), Date.UTC(2000, 1, 29), Date.UTC(2100, 1, 28, 23), Date.UTC(1999, 11, 31, 23, 59), Date.UTC(2026, 11, 31, 23, 59),
        Date.UTC(1970, 0, 1), Date.now(),
      ];
      for (const ms of times) {
        for (const period of ['day', 'month', 'total'] as const) {
          const [start, stop] = (await client.eval(PERIOD_BOUNDS_LUA, 0, period, String(ms))) as [string, string];
          const ts = periodBounds(period, ms);
          expect([Number(start), stop === 'never' ? Infinity : Number(stop)], `${period} at ${new Date(ms).toISOString()}`).toEqual([ts.startMs, ts.endMs]);
        }
      }
    } finally {
      client.disconnect();
    }
  });
});
