import { describe, expect, it } from 'vitest';
import { virtualKeysSchema } from '../../../src/identity/identity-schema.js';
import { hashKeySecret } from '../../../src/identity/key-secret.js';
import { KeyService, KeyServiceError, MAX_GRACE_SECONDS } from '../../../src/identity/key-service.js';
import type { KeyRecord } from '../../../src/state/types.js';
import { FakeKeyStore, manualClock, SERVER_SECRET } from './fake-key-store.js';

function setup() {
  const store = new FakeKeyStore();
  const clock = manualClock();
  const service = new KeyService({ store, serverSecret: SERVER_SECRET, now: clock.now });
  return { store, clock, service };
}

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KeyServiceError);
    return (err as KeyServiceError).code;
  }
  throw new Error('expected a KeyServiceError');
};

describe('create and authenticate', () => {
  it('returns the secret once and stores only its HMAC', async () => {
    const { store, service } = setup();
    const { key, secret } = await service.create({ name: 'app', team: 'search', routes: ['chat'], limits: { rpm: 60 }, budget: { amountUsd: 10, period: 'month' } });
    expect(secret).toMatch(/^sk-rt-/);
    expect(key.prefix).toBe(secret.slice(0, 10));
    const stored = store.records.get(key.id)!;
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(JSON.stringify(key)).not.toContain(stored.secrets[0]!.hash);
    expect(stored.secrets[0]!.hash).toBe(hashKeySecret(SERVER_SECRET, secret));
    expect(stored.source).toBe('api');

    expect(await service.authenticate(secret)).toEqual({
      kind: 'key',
      keyId: key.id,
      name: 'app',
      team: 'search',
      routes: ['chat'],
      limits: { rpm: 60 },
      budget: { amountUsd: 10, period: 'month' },
    });
    expect(await service.authenticate(`${secret}x`)).toEqual({ error: 'unknown' });
    expect(await service.authenticate('')).toEqual({ error: 'unknown' });
    expect(await service.authenticate('x'.repeat(5000))).toEqual({ error: 'unknown' });
  });

  it('looks the key up by hash, then checks the found hash itself (a store answering the wrong record is refused)', async () => {
    const { store, service } = setup();
    const { secret } = await service.create({ name: 'a' });
    const other = await service.create({ name: 'b' });
    // A store that answers every lookup with key b: the constant-time check on the found hash catches it.
    store.findByHash = async () => structuredClone(store.records.get(other.key.id));
    expect(await service.authenticate(secret)).toEqual({ error: 'unknown' });
  });

  it('caches positive lookups, and a change notice drops them', async () => {
    const { store, service } = setup();
    const { key, secret } = await service.create({ name: 'a' });
    await service.authenticate(secret);
    await service.authenticate(secret);
    await service.authenticate(secret);
    expect(store.calls.findByHash).toBe(1);
    await service.patch(key.id, { team: 'new' });
    expect(await service.authenticate(secret)).toMatchObject({ team: 'new' });
    expect(store.calls.findByHash).toBe(2);
  });

  it('refuses an expiresAt in the past at creation', async () => {
    const { service, clock } = setup();
    expect(await code(service.create({ name: 'a', expiresAt: new Date(clock.now() - 1000).toISOString() }))).toBe('invalid');
  });
});

describe('rotation', () => {
  it('keeps the old secret working during the grace period, refuses it after', async () => {
    const { service, clock } = setup();
    const { key, secret: old } = await service.create({ name: 'a' });
    await service.authenticate(old); // cached: the grace end must still be honoured
    const rotated = await service.rotate(key.id, 600);
    expect(rotated.secret).not.toBe(old);
    expect(rotated.key.secrets).toHaveLength(2);
    expect(rotated.key.secrets[1]!.expiresAt).toBe(new Date(clock.now() + 600_000).toISOString());

    clock.advance(599_000);
    expect(await service.authenticate(old)).toMatchObject({ keyId: key.id });
    expect(await service.authenticate(rotated.secret)).toMatchObject({ keyId: key.id });
    clock.advance(1_000);
    expect(await service.authenticate(old)).toEqual({ error: 'unknown' });
    expect(await service.authenticate(rotated.secret)).toMatchObject({ keyId: key.id });
    expect((await service.get(key.id))!.secrets).toHaveLength(1);
  });

  it('with grace 0 ends every old secret at once', async () => {
    const { service } = setup();
    const { key, secret: s1 } = await service.create({ name: 'a' });
    const { secret: s2 } = await service.rotate(key.id, 3600);
    const { secret: s3 } = await service.rotate(key.id, 0);
    expect(await service.authenticate(s1)).toEqual({ error: 'unknown' });
    expect(await service.authenticate(s2)).toEqual({ error: 'unknown' });
    expect(await service.authenticate(s3)).toMatchObject({ keyId: key.id });
  });

  it('defaults to one hour and never lengthens an older secret’s grace', async () => {
    const { service, clock } = setup();
    const { key, secret: s1 } = await service.create({ name: 'a' });
    await service.rotate(key.id); // s1 ends in 3600 s
    clock.advance(1_000);
    const { key: view } = await service.rotate(key.id, 7200);
    const ends = view.secrets.slice(1).map((s) => Date.parse(s.expiresAt!));
    expect(ends).toEqual([clock.now() + 7_200_000, clock.now() - 1_000 + 3_600_000]);
    clock.advance(3_600_000);
    expect(await service.authenticate(s1)).toEqual({ error: 'unknown' });
  });

  it('refuses a grace outside 0…30 days, and config or revoked keys', async () => {
    const { service } = setup();
    const { key } = await service.create({ name: 'a' });
    expect(await code(service.rotate(key.id, MAX_GRACE_SECONDS + 1))).toBe('invalid');
    expect(await code(service.rotate(key.id, -1))).toBe('invalid');
    expect(await code(service.rotate(key.id, 1.5))).toBe('invalid');
    await service.revoke(key.id);
    expect(await code(service.rotate(key.id, 10))).toBe('revoked');
    expect(await code(service.rotate('nope', 10))).toBe('not_found');
  });
});

describe('revocation and expiry', () => {
  it('refuses a revoked key at once, with the reason', async () => {
    const { service } = setup();
    const { key, secret } = await service.create({ name: 'a' });
    expect(await service.authenticate(secret)).toMatchObject({ keyId: key.id });
    const view = await service.revoke(key.id);
    expect(view.status).toBe('revoked');
    expect(await service.authenticate(secret)).toEqual({ error: 'revoked' });
    expect((await service.revoke(key.id)).revokedAt).toBe(view.revokedAt);
    expect(await code(service.patch(key.id, { name: 'b' }))).toBe('revoked');
  });

  it('a revocation on another instance is honoured at once (shared store, change notice)', async () => {
    const store = new FakeKeyStore();
    const clock = manualClock();
    const a = new KeyService({ store, serverSecret: SERVER_SECRET, now: clock.now });
    const b = new KeyService({ store, serverSecret: SERVER_SECRET, now: clock.now });
    const { key, secret } = await a.create({ name: 'shared' });
    expect(await b.authenticate(secret)).toMatchObject({ keyId: key.id });
    expect(await b.authenticate(secret)).toMatchObject({ keyId: key.id }); // now cached on b
    await a.revoke(key.id);
    expect(await b.authenticate(secret)).toEqual({ error: 'revoked' });
    a.close();
    b.close();
  });

  it('without change notices, the cache TTL (5 s) still bounds how long a revoked key works', async () => {
    const store = new FakeKeyStore();
    store.notify = false;
    const clock = manualClock();
    const a = new KeyService({ store, serverSecret: SERVER_SECRET, now: clock.now });
    const b = new KeyService({ store, serverSecret: SERVER_SECRET, now: clock.now });
    const { secret, key } = await a.create({ name: 'shared' });
    expect(await b.authenticate(secret)).toMatchObject({ keyId: key.id });
    await a.revoke(key.id);
    clock.advance(4_999);
    expect(await b.authenticate(secret)).toMatchObject({ keyId: key.id });
    clock.advance(1);
    expect(await b.authenticate(secret)).toEqual({ error: 'revoked' });
  });

  it('a lookup racing a change notice does not cache what it read', async () => {
    const store = new FakeKeyStore();
    const clock = manualClock();
    const service = new KeyService({ store, serverSecret: SERVER_SECRET, now: clock.now });
    const { key, secret } = await service.create({ name: 'a' });
    const realFind = store.findByHash.bind(store);
    store.findByHash = async (h) => {
      const r = await realFind(h);
      // The key is revoked (elsewhere) after the read and before the lookup returns.
      await store.put({ ...store.records.get(key.id)!, revokedAt: new Date(clock.now()).toISOString() });
      return r;
    };
    expect(await service.authenticate(secret)).toMatchObject({ keyId: key.id });
    store.findByHash = realFind;
    expect(await service.authenticate(secret)).toEqual({ error: 'revoked' });
  });

  it('refuses an expired key with the reason; a patch can move the date', async () => {
    const { service, clock } = setup();
    const { key, secret } = await service.create({ name: 'a', expiresAt: new Date(clock.now() + 60_000).toISOString() });
    expect(await service.authenticate(secret)).toMatchObject({ keyId: key.id });
    clock.advance(60_000);
    expect(await service.authenticate(secret)).toEqual({ error: 'expired' });
    expect((await service.get(key.id))!.status).toBe('expired');
    await service.patch(key.id, { expiresAt: null });
    expect(await service.authenticate(secret)).toMatchObject({ keyId: key.id });
  });
});

describe('patch, list, get', () => {
  it('changes and clears fields; lookups of odd ids are unknown', async () => {
    const { service } = setup();
    const { key } = await service.create({ name: 'a', routes: ['chat'], metadata: { owner: 'x' } });
    const patched = await service.patch(key.id, { name: 'b', routes: null, limits: { tpm: 1000 }, metadata: null });
    expect(patched).toMatchObject({ name: 'b', limits: { tpm: 1000 } });
    expect(patched.routes).toBeUndefined();
    expect(patched.metadata).toBeUndefined();
    expect((await service.list()).map((k) => k.id)).toEqual([key.id]);
    for (const id of ['__proto__', 'toString', 'constructor', 'hasOwnProperty', '', '../x']) {
      expect(await service.get(id)).toBeUndefined();
      expect(await code(service.patch(id, { name: 'x' }))).toBe('not_found');
      expect(await code(service.revoke(id))).toBe('not_found');
    }
  });
});

describe('config keys', () => {
  const entries = (raw: unknown) => virtualKeysSchema.parse(raw);

  it('are synced in, authenticate, and are read-only through the service', async () => {
    const { store, service } = setup();
    const secret = 'config-secret-of-some-length';
    const hashed = 'another-config-secret-value';
    const report = await service.syncConfigKeys(
      entries([
        { id: 'ci', name: 'CI', team: 'infra', routes: ['chat'], secret },
        { id: 'batch', name: 'Batch', hash: `hmac-sha256:${hashKeySecret(SERVER_SECRET, hashed)}` },
      ]),
    );
    expect(report).toMatchObject({ created: ['ci', 'batch'], updated: [], removed: [], warnings: [] });
    expect(await service.authenticate(secret)).toMatchObject({ kind: 'key', keyId: 'ci', team: 'infra', routes: ['chat'] });
    expect(await service.authenticate(hashed)).toMatchObject({ keyId: 'batch' });
    expect(store.records.get('ci')!.source).toBe('config');
    expect(await code(service.patch('ci', { name: 'x' }))).toBe('read_only');
    expect(await code(service.rotate('ci', 0))).toBe('read_only');
    expect(await code(service.revoke('ci'))).toBe('read_only');
  });

  it('a reload writes only what changed, and a key removed from the config stops working', async () => {
    const { store, service, clock } = setup();
    const cfg = [
      { id: 'a', name: 'A', secret: 'secret-a-secret-a-secret-a' },
      { id: 'b', name: 'B', secret: 'secret-b-secret-b-secret-b' },
    ];
    await service.syncConfigKeys(entries(cfg));
    const puts = store.calls.put;
    const createdAt = store.records.get('a')!.createdAt;
    clock.advance(10_000);
    expect(await service.syncConfigKeys(entries(cfg))).toMatchObject({ unchanged: ['a', 'b'], created: [], updated: [] });
    expect(store.calls.put).toBe(puts);

    const report = await service.syncConfigKeys(entries([{ ...cfg[0], name: 'A2' }]));
    expect(report).toMatchObject({ updated: ['a'], removed: ['b'] });
    expect(store.records.get('a')!.createdAt).toBe(createdAt);
    expect(await service.authenticate('secret-b-secret-b-secret-b')).toEqual({ error: 'revoked' });
    expect(await service.authenticate('secret-a-secret-a-secret-a')).toMatchObject({ keyId: 'a', name: 'A2' });
    // Removing again does nothing more.
    expect((await service.syncConfigKeys(entries([{ ...cfg[0], name: 'A2' }]))).removed).toEqual([]);
    // Declared again: it works again.
    await service.syncConfigKeys(entries(cfg));
    expect(await service.authenticate('secret-b-secret-b-secret-b')).toMatchObject({ keyId: 'b' });
  });

  it('syncs run one after another (a reload during the start-up sync does not interleave)', async () => {
    const { store, service } = setup();
    const first = service.syncConfigKeys(entries([{ id: 'a', name: 'A', secret: 'secret-a-secret-a-secret-a' }]));
    const second = service.syncConfigKeys(entries([{ id: 'b', name: 'B', secret: 'secret-b-secret-b-secret-b' }]));
    expect((await first).created).toEqual(['a']);
    expect(await second).toMatchObject({ created: ['b'], removed: ['a'] });
    expect(store.records.get('a')!.revokedAt).toBeDefined();
    expect(store.records.get('b')!.revokedAt).toBeUndefined();
  });

  it('uses the store’s delete when it has one', async () => {
    const { store, service } = setup();
    const deleted: string[] = [];
    Object.assign(store, { delete: async (id: string) => void (deleted.push(id), store.records.delete(id)) });
    await service.syncConfigKeys(entries([{ id: 'a', name: 'A', secret: 'secret-a-secret-a-secret-a' }]));
    expect((await service.syncConfigKeys([])).removed).toEqual(['a']);
    expect(deleted).toEqual(['a']);
    expect(store.records.has('a')).toBe(false);
  });

  it('reports a key whose secret variable is unset (disabled, not a crash) and never takes over an API key', async () => {
    const { store, service } = setup();
    const api = await service.create({ name: 'api' });
    // Simulate an id collision (the schema reserves key_…, so this only happens with a hand-edited store).
    const taken: KeyRecord = { ...store.records.get(api.key.id)!, id: 'taken' };
    store.records.set('taken', taken);
    const report = await service.syncConfigKeys(entries([{ id: 'nosecret', name: 'N' }, { id: 'taken', name: 'T', secret: 'secret-t-secret-t-secret-t' }]));
    expect(report.warnings).toHaveLength(2);
    expect(report.warnings.join('\n')).toMatch(/nosecret.*no secret/);
    expect(report.warnings.join('\n')).toMatch(/taken.*admin API key/);
    expect(store.records.get('taken')!.source).toBe('api');
    expect((await service.get('nosecret'))!.prefix).toBe('');
  });
});

describe('the cached identity', () => {
  it('is one frozen object per cached record, replaced when the record changes', async () => {
    const { service, store } = setup();
    const { key, secret } = await service.create({ name: 'a', team: 't', routes: ['chat'], limits: { rpm: 60 }, budget: { amountUsd: 10, period: 'month' } });
    const first = await service.authenticate(secret);
    const second = await service.authenticate(secret);
    expect(second).toBe(first);
    expect(store.calls.findByHash).toBe(1);
    // Shared between requests, so nobody can change it (nor its arrays and objects) for the others.
    expect(Object.isFrozen(first)).toBe(true);
    const id = first as Extract<typeof first, { kind: string }>;
    for (const part of [id.routes, id.limits, id.budget]) expect(Object.isFrozen(part)).toBe(true);
    expect(() => id.routes!.push('embed')).toThrow(TypeError);
    expect(() => ((id.limits as { rpm: number }).rpm = 1)).toThrow(TypeError);
    // It does not alias the store's data either.
    expect(id.routes).not.toBe(store.records.get(key.id)!.routes);

    await service.patch(key.id, { routes: ['embed'], limits: null });
    const third = await service.authenticate(secret);
    expect(third).not.toBe(first);
    expect(third).toEqual({ kind: 'key', keyId: key.id, name: 'a', team: 't', routes: ['embed'], budget: { amountUsd: 10, period: 'month' } });
    expect(first).toMatchObject({ routes: ['chat'], limits: { rpm: 60 } });
  });

  it('the clock is still checked on every request: expiry and grace end are honoured while cached', async () => {
    const { service, store, clock } = setup();
    // Both ends fall inside the cache TTL (5 s): only the per-request checks can catch them.
    const { key, secret } = await service.create({ name: 'a', expiresAt: new Date(clock.now() + 3_000).toISOString() });
    const rotated = await service.rotate(key.id, 2);
    expect(await service.authenticate(secret)).toMatchObject({ keyId: key.id });
    expect(await service.authenticate(rotated.secret)).toMatchObject({ keyId: key.id });
    const lookups = store.calls.findByHash;
    clock.advance(1_999);
    expect(await service.authenticate(secret)).toMatchObject({ keyId: key.id });
    expect(await service.authenticate(rotated.secret)).toMatchObject({ keyId: key.id });
    expect(store.calls.findByHash).toBe(lookups); // both answered from the cache
    clock.advance(1);
    expect(await service.authenticate(secret)).toEqual({ error: 'unknown' }); // grace over, without any change notice
    expect(await service.authenticate(rotated.secret)).toMatchObject({ keyId: key.id });
    clock.advance(1_000);
    expect(await service.authenticate(rotated.secret)).toEqual({ error: 'expired' });
  });

  it('check answers a cached key synchronously, and otherwise as authenticate does', async () => {
    const { service } = setup();
    const { key, secret } = await service.create({ name: 'a' });
    const miss = service.check(secret);
    expect(miss).toBeInstanceOf(Promise);
    expect(await miss).toMatchObject({ keyId: key.id });
    const hit = service.check(secret);
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit).toBe(await service.authenticate(secret));
    expect(service.check('')).toEqual({ error: 'unknown' });
    expect(await service.check('sk-rt-unknown')).toEqual({ error: 'unknown' });
  });

  it('a record whose dates do not parse is judged as before (a bad grace end: not live; a bad expiry: not expired)', async () => {
    const { service, store } = setup();
    const { key, secret } = await service.create({ name: 'a' });
    const r = store.records.get(key.id)!;
    store.records.set(key.id, { ...r, expiresAt: 'not a date' });
    expect(await service.authenticate(secret)).toMatchObject({ keyId: key.id });
    await store.put({ ...r, secrets: [{ ...r.secrets[0]!, expiresAt: 'not a date' }] });
    expect(await service.authenticate(secret)).toEqual({ error: 'unknown' });
  });
});
