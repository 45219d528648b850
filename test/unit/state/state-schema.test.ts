import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { createStateBackend, stateSchema } from '../../../src/state/index.js';
import { redisOptions } from '../../../src/state/redis/redis-connection.js';

describe('stateSchema', () => {
  it('defaults to memory under ./data, fail-open', () => {
    expect(stateSchema.parse({})).toEqual({ backend: 'memory', dataDir: 'data', onUnavailable: 'fail-open' });
  });

  it('fills Redis defaults and requires redis for the redis backend', () => {
    expect(stateSchema.parse({ backend: 'redis', redis: { url: 'rediss://cache:6380' } }).redis).toEqual({
      url: 'rediss://cache:6380',
      keyPrefix: 'llm-router:',
      commandTimeoutMs: 500,
      connectTimeoutMs: 2_000,
      maxQueuedCommands: 1_000,
    });
    expect(() => stateSchema.parse({ backend: 'redis' })).toThrow(/state.redis is required/);
    expect(() => stateSchema.parse({ backend: 'redis', redis: { url: 'http://x' } })).toThrow(/redis:\/\//);
    expect(() => stateSchema.parse({ backend: 'memory', extra: 1 })).toThrow();
    expect(() => stateSchema.parse({ redis: { url: 'redis://x', tls: { ca: 'pem', nope: 1 } } })).toThrow();
  });

  it('maps TLS and credentials onto ioredis options', () => {
    const base = stateSchema.parse({ backend: 'redis', redis: { url: 'redis://h:1' } }).redis!;
    expect(redisOptions(base)).toMatchObject({ enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 500, connectTimeout: 2_000 });
    expect(redisOptions(base).tls).toBeUndefined();
    expect(redisOptions({ ...base, url: 'rediss://h:1' }).tls).toEqual({});
    expect(redisOptions({ ...base, tls: { ca: 'PEM', rejectUnauthorized: false }, username: 'u', password: 'p' })).toMatchObject({
      tls: { ca: 'PEM', rejectUnauthorized: false },
      username: 'u',
      password: 'p',
    });
  });

  it('resolves a relative dataDir against the config folder', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'llm-router-schema-'));
    try {
      const backend = await createStateBackend(stateSchema.parse({ dataDir: 'state' }), { baseDir: root });
      await backend.keys.put({ id: 'k', name: 'k', createdAt: '2026-01-01T00:00:00.000Z', secrets: [], source: 'api' });
      await backend.close();
      const again = await createStateBackend(stateSchema.parse({ dataDir: path.join(root, 'state') }), { baseDir: '/elsewhere' });
      expect((await again.keys.list()).map((k) => k.id)).toEqual(['k']);
      await again.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
