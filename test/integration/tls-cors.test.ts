import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load-config.js';
import { FakeProvider } from '../fixtures/fake-provider.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

const ROUTES = `
providers: { a: { kind: openai, apiKeys: [k] } }
routes: { chat: { targets: [{ provider: a, model: m }] } }
`;

/** A self-signed pair for localhost / 127.0.0.1 (its own CA), made with the openssl CLI. */
function makePair(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  chmodSync(key, 0o600);
  return { cert, key };
}

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The certificate a fresh TLS connection is shown (its SHA-256 fingerprint), and the protocol. */
function handshake(port: number, opts: tls.ConnectionOptions = {}): Promise<{ fingerprint: string; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ...opts }, () => {
      const r = { fingerprint: s.getPeerCertificate().fingerprint256, protocol: s.getProtocol() };
      s.destroy();
      resolve(r);
    });
    s.once('error', reject);
  });
}

const fingerprintOf = (certFile: string) => new X509Certificate(readFileSync(certFile)).fingerprint256;

describe.skipIf(!hasOpenssl)('TLS in the router', () => {
  let dir: string;
  let h: RouterHarness;
  let first: { cert: string; key: string };
  const live = { cert: '', key: '' };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'router-tls-'));
    first = makePair(dir, 'first');
    live.cert = path.join(dir, 'live.crt');
    live.key = path.join(dir, 'live.key');
    writeFileSync(live.cert, readFileSync(first.cert));
    writeFileSync(live.key, readFileSync(first.key), { mode: 0o600 });
    // Relative paths resolve against the config file's folder.
    h = await startRouter(`server: { tls: { cert: live.crt, key: live.key } }\n${ROUTES}`, { providers: { a: new FakeProvider('a') }, baseDir: dir });
  });
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS to a client that trusts the certificate', async () => {
    expect(h.url).toMatch(/^https:/);
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: h.server.port(), path: '/healthz', servername: 'localhost', ca: readFileSync(first.cert) }, (res) => {
          let data = '';
          res.on('data', (d) => (data += d));
          res.on('end', () => resolve(data));
        })
        .on('error', reject);
    });
    expect(JSON.parse(body)).toEqual({ status: 'ok' });
  });

  it('accepts TLS 1.2 and refuses TLS 1.1', async () => {
    expect((await handshake(h.server.port(), { maxVersion: 'TLSv1.2' })).protocol).toBe('TLSv1.2');
    // SECLEVEL=0 lets this client offer TLS 1.1 at all, so the refusal is the server's.
    await expect(handshake(h.server.port(), { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })).rejects.toThrow(/protocol|version|alert/i);
  });

  it('picks up a renewed certificate, and keeps the last good one when the new pair is invalid', async () => {
    const port = h.server.port();
    expect((await handshake(port)).fingerprint).toBe(fingerprintOf(first.cert));

    // A renewal written the way tools do it: new files renamed over the old ones.
    const second = makePair(dir, 'second');
    renameSync(second.key, live.key);
    renameSync(second.cert, live.cert);
    const want = fingerprintOf(live.cert);
    const deadline = Date.now() + 5_000;
    while ((await handshake(port)).fingerprint !== want) {
      if (Date.now() > deadline) throw new Error('the new certificate was not picked up');
      await new Promise((r) => setTimeout(r, 100));
    }

    // A certificate that does not match the key: refused, the current pair stays.
    const third = makePair(dir, 'third');
    writeFileSync(live.cert, readFileSync(third.cert));
    await new Promise((r) => setTimeout(r, 700));
    expect((await handshake(port)).fingerprint).toBe(want);
  });

  it('refuses to start with a key readable by group or others, naming the file and the fix', async () => {
    const loose = makePair(dir, 'loose');
    chmodSync(loose.key, 0o644);
    await expect(startRouter(`server: { tls: { cert: ${loose.cert}, key: ${loose.key} } }\n${ROUTES}`, { providers: { a: new FakeProvider('a') } })).rejects.toThrow(
      new RegExp(`${loose.key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is readable by group or others.*chmod 600`),
    );
  });

  it('can require TLS 1.3', async () => {
    const r = await startRouter(`server: { tls: { cert: ${first.cert}, key: ${first.key}, minVersion: TLSv1.3 } }\n${ROUTES}`, { providers: { a: new FakeProvider('a') } });
    try {
      await expect(handshake(r.server.port(), { maxVersion: 'TLSv1.2' })).rejects.toThrow();
      expect((await handshake(r.server.port())).protocol).toBe('TLSv1.3');
    } finally {
      await r.close();
    }
  });
});

describe('CORS', () => {
  const ORIGIN = 'https://app.example.com';
  let h: RouterHarness;
  let open: RouterHarness;
  const a = new FakeProvider('a');
  beforeAll(async () => {
    h = await startRouter(`server: { cors: { origins: ["${ORIGIN}"], credentials: true } }\nauth: { keys: [app-key] }\n${ROUTES}`, { providers: { a } });
    open = await startRouter(`server: { cors: { origins: ["*"], maxAgeS: 60 } }\n${ROUTES}`, { providers: { a: new FakeProvider('a') } });
  });
  afterAll(async () => {
    await h.close();
    await open.close();
  });

  const preflight = (url: string, origin: string, method = 'POST', headers = 'authorization, content-type, x-stainless-os') =>
    request(url).options('/v1/chat/completions').set('origin', origin).set('access-control-request-method', method).set('access-control-request-headers', headers);

  it('answers a preflight from an allowed origin with 204, without a key', async () => {
    const res = await preflight(h.url, ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
    expect(res.headers['access-control-allow-methods']).toContain('POST');
    expect(res.headers['access-control-allow-headers']).toBe('authorization, content-type, x-stainless-os');
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(res.headers['access-control-allow-credentials']).toBe('true');
  });

  it.each([
    ['a disallowed origin', 'https://evil.example', 'POST', 'content-type', /origin/],
    ['a disallowed method', ORIGIN, 'PUT', 'content-type', /method/],
    ['a disallowed header', ORIGIN, 'POST', 'content-type, x-secret', /x-secret/],
  ])('refuses a preflight with %s: 403 in OpenAI shape, no CORS headers', async (_name, origin, method, headers, why) => {
    const res = await preflight(h.url, origin, method, headers);
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'cors_not_allowed', param: null });
    expect(res.body.error.message).toMatch(why);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('marks answers, errors included, for an allowed origin, and exposes the router headers', async () => {
    const ok = await request(h.url).get('/v1/models').set('origin', ORIGIN).set('authorization', 'Bearer app-key');
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    expect(ok.headers['access-control-expose-headers']).toContain('x-request-id');
    expect(ok.headers['access-control-expose-headers']).toContain('x-router-provider');

    const denied = await request(h.url).get('/v1/models').set('origin', ORIGIN);
    expect(denied.status).toBe(401);
    expect(denied.headers['access-control-allow-origin']).toBe(ORIGIN);

    const missing = await request(h.url).get('/nothing').set('origin', ORIGIN);
    expect(missing.status).toBe(404);
    expect(missing.headers['access-control-allow-origin']).toBe(ORIGIN);
  });

  it('marks a stream', async () => {
    a.script({ stream: ['hi'] });
    const res = await request(h.url)
      .post('/v1/chat/completions')
      .set('origin', ORIGIN)
      .set('authorization', 'Bearer app-key')
      .send({ model: 'chat', messages: [{ role: 'user', content: 'x' }], stream: true });
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(res.headers['access-control-expose-headers']).toContain('x-router-model');
    expect(res.text.trim().endsWith('data: [DONE]')).toBe(true);
  });

  it('gives a disallowed origin no CORS headers', async () => {
    const res = await request(h.url).get('/v1/models').set('origin', 'https://evil.example').set('authorization', 'Bearer app-key');
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-expose-headers']).toBeUndefined();
  });

  it('with origins ["*"]: echoes the exact origin, never "*", and no credentials header', async () => {
    const res = await preflight(open.url, 'https://any.example', 'POST', 'content-type');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://any.example');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(res.headers['access-control-max-age']).toBe('60');
    const get = await request(open.url).get('/v1/models').set('origin', 'https://any.example');
    expect(get.headers['access-control-allow-origin']).toBe('https://any.example');
    expect(get.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('sets nothing when cors is not configured, and an OPTIONS is then an unknown URL', async () => {
    const plain = await startRouter(ROUTES, { providers: { a: new FakeProvider('a') } });
    try {
      const res = await preflight(plain.url, ORIGIN);
      expect(res.status).toBe(404);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await plain.close();
    }
  });

  it('rejects a config with origins "*" and credentials, or an origin with a path', () => {
    expect(() => parseConfig(`server: { cors: { origins: ["*"], credentials: true } }\n${ROUTES}`, 'r.yaml', {})).toThrow(/server\.cors\.credentials: credentials: true cannot be combined with origins \["\*"\]/);
    expect(() => parseConfig(`server: { cors: { origins: ["https://app.example.com/"] } }\n${ROUTES}`, 'r.yaml', {})).toThrow(ConfigError);
  });
});
