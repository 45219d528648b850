import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ANONYMOUS, authenticateClient } from '../../../src/edge/client-auth.js';
import { createAuthenticator, type Authenticator } from '../../../src/identity/authenticator.js';
import { KeyService } from '../../../src/identity/key-service.js';
import type { Identity } from '../../../src/identity/types.js';
import { StateUnavailableError } from '../../../src/state/types.js';
import { FakeKeyStore, manualClock, SERVER_SECRET } from './fake-key-store.js';

/** Just enough of node's request and response for the middleware's answers; `onEnd` is called when an answer is written. */
function exchange(headers: Record<string, string>, onEnd: () => void) {
  const req = Object.assign(new EventEmitter(), { headers, socket: { destroyed: true, destroy() {} } }) as unknown as IncomingMessage;
  const sent: { status?: number; headers: Record<string, unknown>; body?: unknown } = { headers: {} };
  const res = Object.assign(new EventEmitter(), {
    headersSent: false,
    setHeader: (k: string, v: unknown) => void (sent.headers[k] = v),
    writeHead: (status: number, h: Record<string, unknown>) => void ((sent.status = status), Object.assign(sent.headers, h)),
    end: (text: string) => void ((sent.body = JSON.parse(text)), onEnd()),
  }) as unknown as ServerResponse;
  return { req, res, sent };
}

function setup() {
  const store = new FakeKeyStore();
  const keyService = new KeyService({ store, serverSecret: SERVER_SECRET, now: manualClock().now });
  const auth = createAuthenticator({ staticKeys: () => ['legacy-one'], keyService });
  return { store, keyService, auth };
}

/** Runs the middleware; `sync` tells whether it decided (accepted, failed or answered) before returning. */
function run(auth: Authenticator | undefined, headers: Record<string, string>, open = false, accept?: (i: Identity) => void) {
  const out: { accepted?: Identity; failed?: unknown } = {};
  let settle!: () => void;
  let settled = false;
  const done = new Promise<void>((resolve) => (settle = () => ((settled = true), resolve())));
  const x = exchange(headers, () => settle());
  authenticateClient(
    { authenticator: () => auth, open: () => open },
    x.req,
    x.res,
    (i) => {
      out.accepted = i;
      settle();
      accept?.(i);
    },
    (err) => {
      out.failed = err;
      settle();
    },
  );
  return { ...x, out, sync: settled, done };
}

describe('authenticateClient', () => {
  it('a cached virtual key and a legacy key are accepted synchronously; a first lookup asynchronously', async () => {
    const { auth, keyService, store } = setup();
    const { key, secret } = await keyService.create({ name: 'a' });
    const first = run(auth, { authorization: `Bearer ${secret}` });
    expect(first.sync).toBe(false);
    await first.done;
    expect(first.out.accepted).toMatchObject({ kind: 'key', keyId: key.id });
    const again = run(auth, { authorization: `Bearer ${secret}` });
    expect(again.sync).toBe(true);
    expect(again.out.accepted).toBe(first.out.accepted); // the one frozen identity of the cached key
    expect(store.calls.findByHash).toBe(1);
    const legacy = run(auth, { 'api-key': 'legacy-one' });
    expect(legacy.sync).toBe(true);
    expect(legacy.out.accepted).toEqual({ kind: 'static', keyId: 'key-0' });
  });

  it('refusals are answered as before: 401 invalid_api_key with connection: close, or 503 when the store is down', async () => {
    const { auth, store } = setup();
    const missing = run(auth, {});
    expect(missing.sync).toBe(true);
    expect(missing.sent).toEqual({
      status: 401,
      headers: { connection: 'close', 'content-type': 'application/json; charset=utf-8', 'content-length': expect.any(Number) },
      body: { error: { message: 'You did not provide an API key. Send it as "Authorization: Bearer <key>".', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } },
    });
    const unknown = run(auth, { authorization: 'Bearer sk-rt-nope' });
    await unknown.done;
    expect(unknown.sent).toMatchObject({ status: 401, headers: { connection: 'close' }, body: { error: { message: 'Incorrect API key provided.', code: 'invalid_api_key' } } });
    store.findByHash = async () => {
      throw new StateUnavailableError('down');
    };
    const down = run(auth, { authorization: 'Bearer sk-rt-other' });
    await down.done;
    expect(down.sent).toMatchObject({ status: 503, headers: { connection: 'close', 'retry-after': '2' }, body: { error: { code: 'auth_unavailable' } } });
  });

  it('an open router lets a refused or absent caller in as anonymous', async () => {
    const { auth } = setup();
    expect(run(auth, {}, true).out.accepted).toBe(ANONYMOUS);
    const refused = run(auth, { authorization: 'Bearer sk-rt-nope' }, true);
    await refused.done;
    expect(refused.out.accepted).toBe(ANONYMOUS);
  });

  it('whatever the next handler throws goes to fail, on the synchronous path too', async () => {
    const { auth } = setup();
    const boom = new Error('handler failed');
    const r = run(auth, { 'api-key': 'legacy-one' }, false, () => {
      throw boom;
    });
    expect(r.sync).toBe(true);
    expect(r.out.failed).toBe(boom);
    // An authenticator with only `authenticate` (no `check`) still works, asynchronously.
    const plain: Authenticator = { authenticate: (p) => auth.authenticate(p) };
    const viaPromise = run(plain, { 'api-key': 'legacy-one' });
    expect(viaPromise.sync).toBe(false);
    await viaPromise.done;
    expect(viaPromise.out.accepted).toEqual({ kind: 'static', keyId: 'key-0' });
  });
});
