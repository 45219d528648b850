import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createAdminKeysRouter, type AdminKeysRouterOptions } from '../../../src/identity/admin-keys-router.js';
import { virtualKeysSchema } from '../../../src/identity/identity-schema.js';
import { KeyService } from '../../../src/identity/key-service.js';
import { FakeKeyStore, manualClock, SERVER_SECRET } from './fake-key-store.js';

async function setup(opts: AdminKeysRouterOptions = {}) {
  const store = new FakeKeyStore();
  const clock = manualClock();
  const service = new KeyService({ store, serverSecret: SERVER_SECRET, now: clock.now });
  await service.syncConfigKeys(virtualKeysSchema.parse([{ id: 'ci', name: 'CI', secret: 'ci-secret-ci-secret-ci-secret' }]));
  const app = express();
  app.use('/admin', createAdminKeysRouter(service, opts));
  return { app, store, service, clock };
}

/** Every answer is checked for hashes: none may ever leave the router. */
function noHashes(body: unknown, store: FakeKeyStore) {
  const text = JSON.stringify(body);
  for (const r of store.records.values()) for (const s of r.secrets) expect(text).not.toContain(s.hash);
  expect(text).not.toMatch(/"hash"/);
}

const expectOpenAIError = (body: unknown) => {
  expect(Object.keys(body as object)).toEqual(['error']);
  const e = (body as { error: Record<string, unknown> }).error;
  expect(Object.keys(e).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof e.message).toBe('string');
  expect(typeof e.type).toBe('string');
  expect(typeof e.code).toBe('string');
  expect(e.param === null || typeof e.param === 'string').toBe(true);
};

describe('admin keys router', () => {
  it('POST /keys creates a key and returns its secret once', async () => {
    const { app, store, service } = await setup();
    const res = await request(app)
      .post('/admin/keys')
      .send({ name: 'web', team: 'growth', routes: ['chat'], limits: { rpm: 100, maxInFlight: 4 }, budget: { amountUsd: 50, period: 'month', softRatio: 0.8 }, metadata: { owner: 'ana' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'web', team: 'growth', routes: ['chat'], source: 'api', status: 'active', secret: expect.stringMatching(/^sk-rt-/) });
    expect(res.body.id).toMatch(/^key_/);
    expect(res.body.prefix).toBe(res.body.secret.slice(0, 10));
    noHashes(res.body, store);
    expect(await service.authenticate(res.body.secret)).toMatchObject({ keyId: res.body.id });

    const list = await request(app).get('/admin/keys');
    expect(list.status).toBe(200);
    expect(list.body.object).toBe('list');
    expect(list.body.data.map((k: { id: string }) => k.id).sort()).toEqual(['ci', res.body.id].sort());
    expect(JSON.stringify(list.body)).not.toContain(res.body.secret);
    expect(JSON.stringify(list.body)).not.toContain('ci-secret-ci-secret');
    noHashes(list.body, store);

    const one = await request(app).get(`/admin/keys/${res.body.id}`);
    expect(one.status).toBe(200);
    expect(one.body).not.toHaveProperty('secret');
    expect(one.body).not.toHaveProperty('usage');
    expect(one.body.secrets).toEqual([{ prefix: res.body.prefix, createdAt: expect.any(String) }]);
    noHashes(one.body, store);
  });

  it('validation errors are 400 in OpenAI shape naming the field', async () => {
    const { app } = await setup();
    const cases: Array<[unknown, string]> = [
      [{}, 'name'],
      [{ name: '' }, 'name'],
      [{ name: 'x', limits: { rpm: -1 } }, 'limits.rpm'],
      [{ name: 'x', limits: { rmp: 5 } }, 'limits.rmp'],
      [{ name: 'x', budget: { amountUsd: 5, period: 'week' } }, 'budget.period'],
      [{ name: 'x', routes: ['a', 7] }, 'routes[1]'],
      [{ name: 'x', expiresAt: 'tomorrow' }, 'expiresAt'],
      [{ name: 'x', secret: 'i-choose' }, 'secret'],
      // Raw JSON: an object literal's __proto__ would set the prototype instead of a key.
      ['{"name":"x","__proto__":{"admin":true}}', '__proto__'],
    ];
    for (const [body, param] of cases) {
      const res = await request(app).post('/admin/keys').set('content-type', 'application/json').send(typeof body === 'string' ? body : JSON.stringify(body));
      expect(res.status, JSON.stringify(body)).toBe(400);
      expectOpenAIError(res.body);
      expect(res.body.error.param, JSON.stringify(body)).toBe(param);
      expect(res.body.error.message).toContain(param);
      expect(res.body.error.type).toBe('invalid_request_error');
    }
    // zod drops a "__proto__" metadata key (never assigned, so nothing is polluted).
    const proto = await request(app).post('/admin/keys').set('content-type', 'application/json').send('{"name":"x","metadata":{"__proto__":{"admin":true},"a":"b"}}');
    expect(proto.status).toBe(201);
    expect(proto.body.metadata).toEqual({ a: 'b' });
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    const bad = await request(app).post('/admin/keys').set('content-type', 'application/json').send('{"name":');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_json');
    const past = await request(app).post('/admin/keys').send({ name: 'x', expiresAt: '2000-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    expect(past.body.error.param).toBe('expiresAt');
  });

  it('checks routes against the configured ones when told them', async () => {
    const { app } = await setup({ routeNames: () => ['chat', 'embed'] });
    expect((await request(app).post('/admin/keys').send({ name: 'x', routes: ['chat', '*'] })).status).toBe(201);
    const res = await request(app).post('/admin/keys').send({ name: 'x', routes: ['chat', 'nope'] });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ param: 'routes[1]', code: 'invalid_value' });
  });

  it('PATCH /keys/:id changes and clears fields', async () => {
    const { app } = await setup();
    const { body: created } = await request(app).post('/admin/keys').send({ name: 'web', routes: ['chat'] });
    const res = await request(app).patch(`/admin/keys/${created.id}`).send({ name: 'web2', routes: null, limits: { tpm: 10_000 } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'web2', limits: { tpm: 10_000 } });
    expect(res.body).not.toHaveProperty('routes');
    expect(res.body).not.toHaveProperty('secret');
    const empty = await request(app).patch(`/admin/keys/${created.id}`).send({});
    expect(empty.status).toBe(400);
    const unknownField = await request(app).patch(`/admin/keys/${created.id}`).send({ source: 'config' });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.param).toBe('source');
  });

  it('POST /keys/:id/rotate returns a new secret; the old one lasts graceSeconds', async () => {
    const { app, service, clock } = await setup();
    const { body: created } = await request(app).post('/admin/keys').send({ name: 'web' });
    const res = await request(app).post(`/admin/keys/${created.id}/rotate`).send({ graceSeconds: 60 });
    expect(res.status).toBe(200);
    expect(res.body.secret).toMatch(/^sk-rt-/);
    expect(res.body.secret).not.toBe(created.secret);
    expect(res.body.secrets).toHaveLength(2);
    expect(await service.authenticate(created.secret)).toMatchObject({ keyId: created.id });
    clock.advance(60_000);
    expect(await service.authenticate(created.secret)).toEqual({ error: 'unknown' });
    expect(await service.authenticate(res.body.secret)).toMatchObject({ keyId: created.id });

    const def = await request(app).post(`/admin/keys/${created.id}/rotate`);
    expect(def.status).toBe(200);
    expect(Date.parse(def.body.secrets[1].expiresAt) - clock.now()).toBe(3_600_000);

    const tooLong = await request(app).post(`/admin/keys/${created.id}/rotate`).send({ graceSeconds: 31 * 86_400 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.param).toBe('graceSeconds');
  });

  it('DELETE /keys/:id revokes at once and returns the record', async () => {
    const { app, service } = await setup();
    const { body: created } = await request(app).post('/admin/keys').send({ name: 'web' });
    const res = await request(app).delete(`/admin/keys/${created.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: created.id, status: 'revoked', revokedAt: expect.any(String) });
    expect(await service.authenticate(created.secret)).toEqual({ error: 'revoked' });
    const again = await request(app).patch(`/admin/keys/${created.id}`).send({ name: 'x' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('key_revoked');
  });

  it('config keys are read-only: 409 with a clear message', async () => {
    const { app, service } = await setup();
    for (const req of [
      request(app).patch('/admin/keys/ci').send({ name: 'x' }),
      request(app).post('/admin/keys/ci/rotate').send({ graceSeconds: 0 }),
      request(app).delete('/admin/keys/ci'),
    ]) {
      const res = await req;
      expect(res.status).toBe(409);
      expectOpenAIError(res.body);
      expect(res.body.error.code).toBe('key_read_only');
      expect(res.body.error.message).toMatch(/declared in the config/);
    }
    expect(await service.authenticate('ci-secret-ci-secret-ci-secret')).toMatchObject({ keyId: 'ci', name: 'CI' });
    const get = await request(app).get('/admin/keys/ci');
    expect(get.status).toBe(200);
    expect(get.body.source).toBe('config');
  });

  it('unknown and prototype-named ids are 404 on every endpoint', async () => {
    const { app } = await setup();
    for (const id of ['nope', '__proto__', 'toString', 'constructor', 'hasOwnProperty', 'valueOf', '%2E%2E']) {
      for (const req of [
        request(app).get(`/admin/keys/${id}`),
        request(app).patch(`/admin/keys/${id}`).send({ name: 'x' }),
        request(app).post(`/admin/keys/${id}/rotate`).send({}),
        request(app).delete(`/admin/keys/${id}`),
      ]) {
        const res = await req;
        expect(res.status, id).toBe(404);
        expectOpenAIError(res.body);
        expect(res.body.error.code).toBe('key_not_found');
      }
    }
  });

  it('GET /keys/:id includes usage when the router provides it', async () => {
    const seen: string[] = [];
    const { app } = await setup({ usageOf: async (id) => (seen.push(id), { spendUsd: 1.5 }) });
    const res = await request(app).get('/admin/keys/ci');
    expect(res.body.usage).toEqual({ spendUsd: 1.5 });
    expect(seen).toEqual(['ci']);
  });

  it('a store outage is a 503 in OpenAI shape', async () => {
    const { app, store } = await setup();
    const { StateUnavailableError } = await import('../../../src/state/types.js');
    store.list = async () => {
      throw new StateUnavailableError('redis down');
    };
    const res = await request(app).get('/admin/keys');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('state_unavailable');
    expect(JSON.stringify(res.body)).not.toContain('redis');
  });
});
