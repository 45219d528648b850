import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtSchema, resolveAlgorithms, type JwtConfig } from '../../../src/identity/identity-schema.js';
import { createJwtVerifier, looksLikeJwt } from '../../../src/identity/jwt.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const now = () => NOW;
const sec = (ms: number) => Math.floor(ms / 1000);
const ISS = 'https://idp.example.com/';
const AUD = 'llm-router';
const HS_SECRET = 'an-hs256-shared-secret-of-enough-length-0123';

type Pair = { kid: string; alg: 'RS256' | 'ES256' | 'EdDSA'; privateKey: CryptoKey; jwk: JWK };
let rs: Pair, rs2: Pair, es: Pair, ed: Pair;
let rsPublicPem: string;
let dir: string;

async function pair(alg: Pair['alg'], kid: string): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  if (alg === 'RS256') rsPublicPem ??= await exportSPKI(publicKey);
  return { kid, alg, privateKey, jwk };
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

function sign(key: Pair | { hs: Uint8Array; kid?: string }, claims: JWTPayload = {}, header: { kid?: string } = {}) {
  const payload: JWTPayload = { iss: ISS, aud: AUD, sub: 'user-1', iat: sec(NOW), exp: sec(NOW) + 600, ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  const isHs = 'hs' in key;
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: isHs ? 'HS256' : key.alg, kid: header.kid ?? key.kid });
  return jwt.sign(isHs ? key.hs : key.privateKey);
}

const jwksFile = (name: string, keys: JWK[]) => {
  const file = path.join(dir, name);
  writeFileSync(`${file}.tmp`, JSON.stringify({ keys }));
  renameSync(`${file}.tmp`, file); // atomic, like a real deploy
  return file;
};

const cfg = (over: Record<string, unknown>): JwtConfig => jwtSchema.parse({ issuer: ISS, audience: AUD, ...over });

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'jwt-test-'));
  [rs, rs2, es, ed] = await Promise.all([pair('RS256', 'rs-1'), pair('RS256', 'rs-2'), pair('ES256', 'es-1'), pair('EdDSA', 'ed-1')]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('looksLikeJwt', () => {
  it('recognises three base64url parts only', () => {
    expect(looksLikeJwt('aaa.bbb.ccc')).toBe(true);
    expect(looksLikeJwt('aaa.bbb.')).toBe(true);
    expect(looksLikeJwt('sk-rt-abcdef')).toBe(false);
    expect(looksLikeJwt('a.b')).toBe(false);
    expect(looksLikeJwt('a.b.c.d')).toBe(false);
    expect(looksLikeJwt('a b.c.d')).toBe(false);
  });
});

describe('JWKS file', () => {
  it('accepts RS256, ES256 and EdDSA tokens from a JWKS with several kids, and maps claims', async () => {
    const file = jwksFile('two.json', [rs.jwk, es.jwk, ed.jwk]);
    const v = createJwtVerifier(
      cfg({
        jwksFile: file,
        claims: { team: 'org_id' },
        tiers: { gold: { rpm: 600, tpm: 100_000, budget: { amountUsd: 100, period: 'month' } }, free: { rpm: 10 } },
        defaultTier: 'free',
      }),
      { now },
    );
    expect(await v.verify(await sign(rs, { org_id: 'acme', routes: 'chat embed', tier: 'gold', name: 'Ana' }))).toEqual({
      kind: 'jwt',
      keyId: 'jwt:user-1',
      name: 'Ana',
      team: 'acme',
      routes: ['chat', 'embed'],
      tier: 'gold',
      limits: { rpm: 600, tpm: 100_000 },
      budget: { amountUsd: 100, period: 'month' },
    });
    expect(await v.verify(await sign(es, { routes: ['chat'] }))).toEqual({ kind: 'jwt', keyId: 'jwt:user-1', routes: ['chat'], tier: 'free', limits: { rpm: 10 } });
    expect(await v.verify(await sign(ed))).toMatchObject({ kind: 'jwt', keyId: 'jwt:user-1' });
  });

  it('picks up a new signing key written to the file (unknown kid → re-read), old kid still valid', async () => {
    let t = NOW;
    const file = jwksFile('rotating.json', [rs.jwk]);
    const v = createJwtVerifier(cfg({ jwksFile: file }), { now: () => t });
    expect(await v.verify(await sign(rs))).toMatchObject({ kind: 'jwt' });
    expect(await v.verify(await sign(rs2))).toMatchObject({ error: 'invalid_token', message: 'The token is signed with a key this router does not know.' });
    jwksFile('rotating.json', [rs.jwk, rs2.jwk]);
    // Unknown-kid re-reads are rate limited (1 s), so forged kids cannot keep the disk busy.
    t += 1_000;
    expect(await v.verify(await sign(rs2))).toMatchObject({ kind: 'jwt' });
    expect(await v.verify(await sign(rs))).toMatchObject({ kind: 'jwt' });
  });

  it('notices a key removed from the file (mtime looked at once a second)', async () => {
    let t = NOW;
    const file = jwksFile('shrinking.json', [rs.jwk, rs2.jwk]);
    const v = createJwtVerifier(cfg({ jwksFile: file }), { now: () => t });
    expect(await v.verify(await sign(rs2))).toMatchObject({ kind: 'jwt' });
    jwksFile('shrinking.json', [rs.jwk]);
    t += 1_000;
    expect(await v.verify(await sign(rs))).toMatchObject({ kind: 'jwt' });
    expect(await v.verify(await sign(rs2))).toMatchObject({ error: 'invalid_token' });
  });

  it('keeps the last good keys when the file turns bad', async () => {
    const file = jwksFile('bad.json', [rs.jwk]);
    let t = NOW;
    const errors: string[] = [];
    const v = createJwtVerifier(cfg({ jwksFile: file }), { now: () => t, onKeysError: (e) => errors.push(e.message) });
    writeFileSync(file, '{ not json');
    t += 2_000;
    expect(await v.verify(await sign(rs))).toMatchObject({ kind: 'jwt' });
    expect(errors.join()).toMatch(/not valid JSON/);
  });

  it('refuses a file with private key material at start', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const file = jwksFile('private.json', [{ ...(await exportJWK(privateKey)), kid: 'x' }]);
    expect(() => createJwtVerifier(cfg({ jwksFile: file }), { now })).toThrow(/private or symmetric key material/);
  });
});

describe('refusals', () => {
  let v: ReturnType<typeof createJwtVerifier>;
  beforeAll(() => {
    v = createJwtVerifier(cfg({ jwksFile: jwksFile('refusals.json', [rs.jwk, es.jwk, ed.jwk]) }), { now });
  });

  const refused = async (token: string | Promise<string>, message: RegExp) => {
    const t = await token;
    const r = await v.verify(t);
    expect(r).toMatchObject({ error: 'invalid_token', message: expect.stringMatching(message) });
    // Never echo the token, its claims or the key id.
    const m = (r as { message: string }).message;
    expect(m).not.toContain(t.slice(0, 20));
    expect(m).not.toMatch(/rs-1|es-1|user-1|evil/);
  };

  it('expired (beyond the clock skew), but accepted within it', async () => {
    await refused(sign(rs, { exp: sec(NOW) - 31 }), /expired/);
    expect(await v.verify(await sign(rs, { exp: sec(NOW) - 20 }))).toMatchObject({ kind: 'jwt' });
  });
  it('not yet valid', () => refused(sign(rs, { nbf: sec(NOW) + 120 }), /not valid yet/));
  it('wrong issuer', () => refused(sign(rs, { iss: 'https://evil.example/' }), /issuer/));
  it('wrong audience', () => refused(sign(rs, { aud: 'evil-service' }), /audience/));
  it('no expiry', () => refused(sign(rs, { exp: undefined }), /expir/));
  it('unknown kid', () => refused(sign(rs2), /key this router does not know/));
  it('alg none', () => refused(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: ISS, aud: AUD, sub: 'user-1', exp: sec(NOW) + 60 })}.`, /algorithm/));
  it('HS256 when not configured', () => refused(sign({ hs: new TextEncoder().encode(HS_SECRET) }), /algorithm/));
  it('an algorithm outside the allow-list (PS256, its key published in the JWKS)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('PS256', { extractable: true });
    const vv = createJwtVerifier(cfg({ jwksFile: jwksFile('ps.json', [rs.jwk, { ...(await exportJWK(publicKey)), kid: 'ps-1', alg: 'PS256' }]) }), { now });
    const token = await new SignJWT({ iss: ISS, aud: AUD, sub: 'user-1', exp: sec(NOW) + 60 }).setProtectedHeader({ alg: 'PS256', kid: 'ps-1' }).sign(privateKey);
    expect(await vv.verify(token)).toMatchObject({ error: 'invalid_token', message: expect.stringMatching(/algorithm this router does not accept/) });
  });
  it('a forged signature', async () => {
    const good = await sign(rs);
    const [h, p] = good.split('.');
    const other = (await sign(rs, { sub: 'evil' })).split('.')[2];
    await refused(`${h}.${p}.${other}`, /signature/);
  });
  it('a payload changed after signing', async () => {
    const [h, , s] = (await sign(rs)).split('.');
    await refused(`${h}.${b64({ iss: ISS, aud: AUD, sub: 'evil', exp: sec(NOW) + 60 })}.${s}`, /signature/);
  });
  it('garbage', async () => {
    await refused('aaa.bbb.ccc', /malformed/);
    await refused(`${b64({ alg: 'RS256', kid: 'rs-1' })}.not-json.sig`, /malformed|signature/);
    await refused('not a token at all', /malformed/);
  });
  it('a token without a subject, or naming an unknown tier', async () => {
    await refused(sign(rs, { sub: undefined }), /"sub" claim/);
    await refused(sign(rs, { tier: 'platinum' }), /tier/);
    await refused(sign(rs, { routes: 7 }), /routes/);
    await refused(sign(rs, { sub: 'a\nb' }), /"sub" claim/);
  });
});

describe('HS256 and algorithm confusion', () => {
  it('accepts HS256 with the shared secret, alone or beside a JWKS', async () => {
    const hs = createJwtVerifier(cfg({ secret: HS_SECRET }), { now });
    expect(resolveAlgorithms(cfg({ secret: HS_SECRET }))).toEqual(['HS256']);
    expect(await hs.verify(await sign({ hs: new TextEncoder().encode(HS_SECRET) }))).toMatchObject({ kind: 'jwt' });
    expect(await hs.verify(await sign({ hs: new TextEncoder().encode('x'.repeat(40)) }))).toMatchObject({ error: 'invalid_token', message: expect.stringMatching(/signature/) });
    expect(await hs.verify(await sign(rs))).toMatchObject({ error: 'invalid_token', message: expect.stringMatching(/algorithm/) });
  });

  it('an HS256 token "signed" with the RSA public key is refused, even with HS256 allowed', async () => {
    const both = createJwtVerifier(cfg({ jwksFile: jwksFile('confusion.json', [rs.jwk]), secret: HS_SECRET }), { now });
    expect(resolveAlgorithms(cfg({ jwksFile: 'x', secret: HS_SECRET }))).toEqual(['RS256', 'ES256', 'EdDSA', 'HS256']);
    expect(await both.verify(await sign(rs))).toMatchObject({ kind: 'jwt' });
    const forged = await sign({ hs: new TextEncoder().encode(rsPublicPem), kid: 'rs-1' });
    expect(await both.verify(forged)).toMatchObject({ error: 'invalid_token', message: expect.stringMatching(/signature/) });
    const forgedJwk = await sign({ hs: new TextEncoder().encode(JSON.stringify(rs.jwk)), kid: 'rs-1' });
    expect(await both.verify(forgedJwk)).toMatchObject({ error: 'invalid_token' });

    const asymOnly = createJwtVerifier(cfg({ jwksFile: jwksFile('confusion2.json', [rs.jwk]) }), { now });
    expect(await asymOnly.verify(forged)).toMatchObject({ error: 'invalid_token', message: expect.stringMatching(/algorithm/) });
  });

  it('an explicit allow-list is enforced', async () => {
    const onlyEs = createJwtVerifier(cfg({ jwksFile: jwksFile('only-es.json', [rs.jwk, es.jwk]), algorithms: ['ES256'] }), { now });
    expect(await onlyEs.verify(await sign(es))).toMatchObject({ kind: 'jwt' });
    expect(await onlyEs.verify(await sign(rs))).toMatchObject({ error: 'invalid_token', message: expect.stringMatching(/algorithm/) });
  });
});

describe('JWKS URL', () => {
  let server: Server;
  let url: string;
  let fetches = 0;
  let keys: JWK[] = [];
  let failing = false;

  beforeAll(async () => {
    server = createServer((req, res) => {
      fetches++;
      if (failing) return void res.writeHead(500).end('down');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const remoteCfg = (over: Partial<JwtConfig> = {}): JwtConfig => ({ ...cfg({ jwksUrl: url }), ...over });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('fetches once, and an unknown kid triggers exactly one refresh (then the cooldown holds)', async () => {
    fetches = 0;
    failing = false;
    keys = [rs.jwk];
    const v = createJwtVerifier(remoteCfg({ jwksCooldownSeconds: 1 }), { now });
    expect(await v.verify(await sign(rs))).toMatchObject({ kind: 'jwt' });
    expect(await v.verify(await sign(rs))).toMatchObject({ kind: 'jwt' });
    expect(fetches).toBe(1);

    keys = [rs.jwk, rs2.jwk];
    // Within the cooldown of the last fetch: a kid not seen yet does not cause a fetch.
    expect(await v.verify(await sign(rs2))).toMatchObject({ error: 'invalid_token' });
    expect(fetches).toBe(1);

    await sleep(1_050);
    const token = await sign(rs2);
    const results = await Promise.all(Array.from({ length: 5 }, () => v.verify(token)));
    for (const r of results) expect(r).toMatchObject({ kind: 'jwt', keyId: 'jwt:user-1' });
    expect(fetches).toBe(2);

    // A forged kid right after: refused without another fetch.
    expect(await v.verify(await sign(rs, {}, { kid: 'forged' }))).toMatchObject({ error: 'invalid_token' });
    expect(await v.verify(await sign(rs))).toMatchObject({ kind: 'jwt' });
    expect(fetches).toBe(2);
  });

  it('keeps verifying with the last keys when the endpoint goes down', async () => {
    fetches = 0;
    failing = false;
    keys = [es.jwk];
    const errors: string[] = [];
    const v = createJwtVerifier(remoteCfg({ jwksCacheMaxAgeSeconds: 0.05 }), { now, onKeysError: (e) => errors.push(e.message) });
    expect(await v.verify(await sign(es))).toMatchObject({ kind: 'jwt' });
    failing = true;
    await sleep(80);
    expect(await v.verify(await sign(es))).toMatchObject({ kind: 'jwt' });
    expect(await v.verify(await sign(es))).toMatchObject({ kind: 'jwt' });
    expect(fetches).toBe(2); // the failed fetch is not retried at once
    expect(errors).toHaveLength(1);
  });

  it('is unavailable (503, not 401) when keys were never fetched', async () => {
    failing = true;
    const v = createJwtVerifier(remoteCfg(), { now });
    const r = await v.verify(await sign(es));
    expect(r).toMatchObject({ error: 'unavailable' });
    failing = false;
  });
});

describe('schema', () => {
  it('needs a key source, matching algorithms, a known default tier, https for remote keys', () => {
    expect(jwtSchema.safeParse({ issuer: ISS, audience: AUD }).success).toBe(false);
    expect(jwtSchema.safeParse({ issuer: ISS, audience: AUD, jwksFile: 'k.json', algorithms: ['HS256'] }).success).toBe(false);
    expect(jwtSchema.safeParse({ issuer: ISS, audience: AUD, jwksFile: 'k.json', secret: HS_SECRET, algorithms: ['RS256'] }).success).toBe(false);
    expect(jwtSchema.safeParse({ issuer: ISS, audience: AUD, secret: HS_SECRET, algorithms: ['RS256', 'HS256'] }).success).toBe(false);
    expect(jwtSchema.safeParse({ issuer: ISS, audience: AUD, secret: 'short' }).success).toBe(false);
    expect(jwtSchema.safeParse({ issuer: ISS, audience: AUD, jwksUrl: 'http://idp.example.com/jwks' }).success).toBe(false);
    expect(jwtSchema.safeParse({ issuer: ISS, audience: AUD, jwksUrl: 'https://idp.example.com/jwks' }).success).toBe(true);
    expect(jwtSchema.safeParse({ issuer: ISS, audience: AUD, jwksFile: 'k', defaultTier: 'x' }).success).toBe(false);
    expect(jwtSchema.safeParse({ issuer: ISS, audience: AUD, jwksFile: 'k', algorithms: ['none'] }).success).toBe(false);
    expect(jwtSchema.safeParse({ issuer: ISS, audience: AUD, jwksFile: 'k', extra: 1 }).success).toBe(false);
    const parsed = jwtSchema.parse({ issuer: ISS, audience: AUD, jwksFile: 'k' });
    expect(parsed.clockSkewSeconds).toBe(30);
    expect(parsed.claims).toEqual({ keyId: 'sub', name: 'name', team: 'team', routes: 'routes', tier: 'tier' });
    expect(resolveAlgorithms(parsed)).toEqual(['RS256', 'ES256', 'EdDSA']);
  });
});
