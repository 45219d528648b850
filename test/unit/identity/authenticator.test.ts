import { describe, expect, it } from 'vitest';
import { createAuthenticator, mayUseRoute } from '../../../src/identity/authenticator.js';
import { identityErrorToWire, routeNotAllowed } from '../../../src/identity/identity-errors.js';
import { virtualKeysSchema } from '../../../src/identity/identity-schema.js';
import { KeyService } from '../../../src/identity/key-service.js';
import type { JwtVerifier } from '../../../src/identity/jwt.js';
import type { Identity } from '../../../src/identity/types.js';
import { StateUnavailableError } from '../../../src/state/types.js';
import { FakeKeyStore, manualClock, SERVER_SECRET } from './fake-key-store.js';

function setup(jwt?: JwtVerifier) {
  const store = new FakeKeyStore();
  const clock = manualClock();
  const keyService = new KeyService({ store, serverSecret: SERVER_SECRET, now: clock.now });
  let staticKeys: readonly string[] = ['legacy-one', 'legacy.two.x'];
  const auth = createAuthenticator({ staticKeys: () => staticKeys, keyService, jwt });
  return { store, clock, keyService, auth, setStatic: (k: readonly string[]) => void (staticKeys = k) };
}

const fakeJwt = (): JwtVerifier & { seen: string[] } => {
  const seen: string[] = [];
  return { seen, verify: async (t) => (seen.push(t), { kind: 'jwt', keyId: 'jwt:x' }) };
};

describe('createAuthenticator', () => {
  it('legacy auth.keys are static identities key-0, key-1…, following reloads', async () => {
    const { auth, setStatic } = setup();
    expect(await auth.authenticate('legacy-one')).toEqual({ kind: 'static', keyId: 'key-0' });
    expect(await auth.authenticate('legacy.two.x')).toEqual({ kind: 'static', keyId: 'key-1' });
    setStatic(['other']);
    expect(await auth.authenticate('legacy-one')).toMatchObject({ error: 'unknown' });
    expect(await auth.authenticate('other')).toEqual({ kind: 'static', keyId: 'key-0' });
  });

  it('virtual keys, with the reason for a refusal and no echo of the key', async () => {
    const { auth, keyService, clock } = setup();
    const { key, secret } = await keyService.create({ name: 'a', expiresAt: new Date(clock.now() + 1000).toISOString() });
    expect(await auth.authenticate(secret)).toMatchObject({ kind: 'key', keyId: key.id, name: 'a' });
    expect(await auth.authenticate(`  ${secret}  `)).toMatchObject({ kind: 'key' });
    clock.advance(1000);
    const expired = await auth.authenticate(secret);
    expect(expired).toEqual({ error: 'expired', message: 'This API key has expired.' });
    const other = await keyService.create({ name: 'b' });
    await keyService.revoke(other.key.id);
    expect(await auth.authenticate(other.secret)).toEqual({ error: 'revoked', message: 'This API key has been revoked.' });
    for (const r of [expired, await auth.authenticate('sk-rt-nope')]) expect(JSON.stringify(r)).not.toContain('sk-rt-');
  });

  it('a missing or blank credential is "missing"', async () => {
    const { auth } = setup();
    expect(await auth.authenticate(undefined)).toMatchObject({ error: 'missing' });
    expect(await auth.authenticate('   ')).toMatchObject({ error: 'missing' });
  });

  it('JWT-shaped credentials go to the JWT verifier only when it is configured', async () => {
    const jwt = fakeJwt();
    const { auth } = setup(jwt);
    expect(await auth.authenticate('aaa.bbb.ccc')).toEqual({ kind: 'jwt', keyId: 'jwt:x' });
    expect(await auth.authenticate('sk-rt-abc')).toMatchObject({ error: 'unknown' });
    // A legacy key that happens to look like a JWT is still the legacy key.
    const { auth: a2, setStatic } = setup(jwt);
    setStatic(['aaa.bbb.ddd']);
    expect(await a2.authenticate('aaa.bbb.ddd')).toEqual({ kind: 'static', keyId: 'key-0' });
    expect(jwt.seen).toEqual(['aaa.bbb.ccc']);

    const { auth: noJwt } = setup();
    expect(await noJwt.authenticate('aaa.bbb.ccc')).toMatchObject({ error: 'unknown' });
  });

  it('a key store outage is "unavailable" (503), not a refusal of the caller', async () => {
    const { auth, store } = setup();
    store.findByHash = async () => {
      throw new StateUnavailableError('down');
    };
    const r = await auth.authenticate('sk-rt-whatever');
    expect(r).toMatchObject({ error: 'unavailable' });
    expect(identityErrorToWire(r as never).status).toBe(503);
  });

  it('config keys authenticate like any other', async () => {
    const { auth, keyService } = setup();
    await keyService.syncConfigKeys(virtualKeysSchema.parse([{ id: 'ci', name: 'CI', secret: 'ci-secret-0123456789' }]));
    expect(await auth.authenticate('ci-secret-0123456789')).toMatchObject({ kind: 'key', keyId: 'ci' });
  });
});

describe('mayUseRoute', () => {
  const id = (routes?: string[]): Identity => ({ kind: 'key', keyId: 'k', ...(routes ? { routes } : {}) });
  it('no list: every route; a list: only those; "*": all', () => {
    expect(mayUseRoute(id(), 'chat')).toBe(true);
    expect(mayUseRoute(id(['chat']), 'chat')).toBe(true);
    expect(mayUseRoute(id(['chat']), 'embed')).toBe(false);
    expect(mayUseRoute(id([]), 'chat')).toBe(false);
    expect(mayUseRoute(id(['*']), 'anything')).toBe(true);
    expect(mayUseRoute(id(['chat']), 'toString')).toBe(false);
  });
});

describe('identity errors', () => {
  it('401 invalid_api_key in OpenAI shape', () => {
    for (const error of ['missing', 'unknown', 'revoked', 'expired', 'invalid_token'] as const) {
      const w = identityErrorToWire({ error, message: `m-${error}` });
      expect(w.status).toBe(401);
      expect(w.body).toEqual({ error: { message: `m-${error}`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    }
    expect(identityErrorToWire({ error: 'unavailable', message: 'x' })).toMatchObject({ status: 503, headers: { 'retry-after': '2' } });
  });

  it('403 model_not_allowed naming the route', () => {
    expect(routeNotAllowed('gpt-4o')).toEqual({
      status: 403,
      body: { error: { message: "This API key is not allowed to use the model 'gpt-4o'.", type: 'invalid_request_error', param: 'model', code: 'model_not_allowed' } },
    });
    expect(routeNotAllowed('x'.repeat(1000)).body.error.message.length).toBeLessThan(300);
  });
});

describe('virtualKeysSchema', () => {
  const ok = (v: unknown) => virtualKeysSchema.safeParse(v).success;
  it('is strict and checks ids, secrets and hashes', () => {
    expect(ok([{ id: 'ci', name: 'CI', secret: 'x'.repeat(16) }])).toBe(true);
    expect(ok([{ id: 'ci', name: 'CI', hash: `hmac-sha256:${'a'.repeat(64)}` }])).toBe(true);
    expect(ok([{ id: 'ci', name: 'CI' }])).toBe(true); // secret variable unset: disabled, reported at sync
    expect(ok([{ id: 'ci', name: 'CI', secret: 'short' }])).toBe(false);
    expect(ok([{ id: 'ci', name: 'CI', secret: 'x'.repeat(16), hash: `hmac-sha256:${'a'.repeat(64)}` }])).toBe(false);
    expect(ok([{ id: 'ci', name: 'CI', hash: 'sha256:abc' }])).toBe(false);
    expect(ok([{ id: 'ci', name: 'CI', secret: 'x'.repeat(16), rpm: 5 }])).toBe(false);
    expect(ok([{ id: 'key_abc', name: 'x' }])).toBe(false);
    expect(ok([{ id: 'key-0', name: 'x' }])).toBe(false);
    expect(ok([{ id: '__proto__', name: 'x' }])).toBe(false);
    expect(ok([{ id: 'a', name: 'x' }, { id: 'a', name: 'y' }])).toBe(false);
    expect(ok([{ id: 'a', name: 'x', budget: { amountUsd: 5, period: 'month', softRatio: 0.8 }, limits: { rpm: 5, tpm: 10, maxInFlight: 2 }, expiresAt: '2030-01-01T00:00:00Z', routes: ['chat'], metadata: { env: 'prod' } }])).toBe(true);
    const bad = virtualKeysSchema.safeParse([{ id: 'a', name: 'x', limits: { rpm: 0 } }]);
    expect(bad.success ? [] : bad.error.issues[0]!.path).toEqual([0, 'limits', 'rpm']);
  });
});
