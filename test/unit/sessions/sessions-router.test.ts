import express, { type Response } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';

import type { Identity } from '../../../src/identity/types.js';
import { createSessionsRouter } from '../../../src/sessions/sessions-router.js';
import { createMemorySessionStore, type SessionStore } from '../../../src/sessions/session-store.js';
import { StateUnavailableError } from '../../../src/state/types.js';
import { call, config, result, system, user } from './session-fixtures.js';

/** /v1 with a fake client auth: `authorization: Bearer <keyId>` is who calls. */
function appWith(store: SessionStore | undefined, logged: unknown[] = []) {
  const app = express();
  app.use('/v1', (req, res, next) => {
    const keyId = (req.headers.authorization ?? 'Bearer anonymous').slice('Bearer '.length);
    res.locals.identity = { kind: 'key', keyId } satisfies Identity;
    next();
  });
  app.use('/v1', createSessionsRouter({ store: () => store, identity: (res: Response) => res.locals.identity as Identity, logger: { error: (obj) => logged.push(obj) } }));
  return app;
}

const asA = { authorization: 'Bearer key_a' };
const asB = { authorization: 'Bearer key_b' };

describe('sessions router', () => {
  it('creates, reads and deletes a session', async () => {
    const store = createMemorySessionStore(config());
    const app = appWith(store);
    const created = await request(app).post('/v1/sessions').set(asA).expect(201);
    expect(created.body).toEqual({ id: expect.stringMatching(/^sess_[A-Za-z0-9_-]{24}$/), object: 'session', created_at: expect.any(Number), messages: [] });
    expect(Math.abs(created.body.created_at - Date.now() / 1000)).toBeLessThan(5);
    const id = created.body.id as string;

    await store.append(id, 'key_a', [
      system('be brief'),
      user('weather in Paris?'),
      call('c1', 'weather', '{"city":"Paris"}'),
      result('c1', '{"c":21}'),
      { role: 'assistant', content: 'It is 21 °C.' },
    ]);
    const got = await request(app).get(`/v1/sessions/${id}`).set(asA).expect(200);
    expect(got.headers['cache-control']).toBe('no-store');
    expect(got.body).toMatchObject({ id, object: 'session', message_count: 5, created_at: created.body.created_at, updated_at: expect.any(Number) });
    expect(got.body.messages).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', content: '{"c":21}', tool_call_id: 'c1' },
      { role: 'assistant', content: 'It is 21 °C.' },
    ]);
    expect(got.body.token_count).toBeGreaterThan(10);
    expect(got.body.token_count).toBeLessThan(40);

    const deleted = await request(app).delete(`/v1/sessions/${id}`).set(asA).expect(200);
    expect(deleted.body).toEqual({ id, object: 'session.deleted', deleted: true });
    const gone = await request(app).get(`/v1/sessions/${id}`).set(asA).expect(404);
    expect(gone.body.error).toMatchObject({ code: 'session_not_found', param: 'session_id', type: 'invalid_request_error' });
    await request(app).delete(`/v1/sessions/${id}`).set(asA).expect(404);
  });

  it('answers another key 404, exactly as for an id nobody uses', async () => {
    const app = appWith(createMemorySessionStore(config()));
    const { body } = await request(app).post('/v1/sessions').set(asA).send({ id: 'conv-1' }).expect(201);
    expect(body.id).toBe('conv-1');
    const other = await request(app).get('/v1/sessions/conv-1').set(asB).expect(404);
    const nobody = await request(app).get('/v1/sessions/conv-2').set(asB).expect(404);
    expect(other.body).toEqual({ ...nobody.body, error: { ...nobody.body.error, message: other.body.error.message } });
    expect(other.body.error.message).toBe("No session 'conv-1'.");
    await request(app).delete('/v1/sessions/conv-1').set(asB).expect(404);
    await request(app).get('/v1/sessions/conv-1').set(asA).expect(200);
  });

  it('takes an own id once (409 after), and refuses bad ids and bodies with 400', async () => {
    const app = appWith(createMemorySessionStore(config()));
    await request(app).post('/v1/sessions').set(asA).send({ id: 'mine' }).expect(201);
    const again = await request(app).post('/v1/sessions').set(asA).send({ id: 'mine' }).expect(409);
    expect(again.body.error).toMatchObject({ code: 'session_exists', param: 'id' });
    const badId = await request(app).post('/v1/sessions').set(asA).send({ id: 'has space' }).expect(400);
    expect(badId.body.error).toMatchObject({ code: 'invalid_value', param: 'id', type: 'invalid_request_error' });
    const extra = await request(app).post('/v1/sessions').set(asA).send({ id: 'x', ttl: 5 }).expect(400);
    expect(extra.body.error.message).toContain('ttl');
    const badJson = await request(app).post('/v1/sessions').set(asA).set('content-type', 'application/json').send('{"id":').expect(400);
    expect(badJson.body.error.code).toBe('invalid_json');
    const pathId = await request(app).get(`/v1/sessions/${'x'.repeat(129)}`).set(asA).expect(400);
    expect(pathId.body.error).toMatchObject({ code: 'invalid_value', param: 'session_id' });
    await request(app).get('/v1/sessions/a%20b').set(asA).expect(400);
  });

  it('answers 503 state_unavailable when the store is unreachable, 500 (logged) for anything else', async () => {
    const unavailable = () => Promise.reject(new StateUnavailableError('Redis session get: not connected'));
    const broken: SessionStore = { create: unavailable, get: unavailable, append: unavailable, delete: unavailable, close: async () => {} };
    const app = appWith(broken);
    for (const r of [request(app).post('/v1/sessions').set(asA), request(app).get('/v1/sessions/x').set(asA), request(app).delete('/v1/sessions/x').set(asA)]) {
      const res = await r.expect(503);
      expect(res.headers['retry-after']).toBe('2');
      expect(res.body.error).toMatchObject({ code: 'state_unavailable', type: 'service_unavailable' });
      expect(res.body.error.message).not.toContain('Redis');
    }
    const logged: unknown[] = [];
    const failing = () => Promise.reject(new Error('boom'));
    const res = await request(appWith({ ...broken, get: failing }, logged)).get('/v1/sessions/x').set(asA).expect(500);
    expect(res.body.error).toMatchObject({ code: 'internal_error', message: 'The router failed to process the request.' });
    expect(logged).toHaveLength(1);
  });

  it('answers 404 sessions_disabled when sessions are off', async () => {
    const res = await request(appWith(undefined)).post('/v1/sessions').set(asA).expect(404);
    expect(res.body.error.code).toBe('sessions_disabled');
    await request(appWith(undefined)).get('/v1/sessions/x').set(asA).expect(404);
  });
});
