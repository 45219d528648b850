import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAdminClient, resolveConnection } from '../../../src/cli/admin-client.js';
import { ApiError, UnreachableError, UsageError } from '../../../src/cli/cli-errors.js';
import { captureContext, refused } from './capture-context.js';

const dir = mkdtempSync(path.join(tmpdir(), 'cli-admin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the admin connection', () => {
  it('takes --url over LLM_ROUTER_URL over the default, and the key from the env or a file', () => {
    expect(resolveConnection({}, {}).baseUrl.href).toBe('http://127.0.0.1:8080/');
    expect(resolveConnection({}, { LLM_ROUTER_URL: 'http://10.0.0.5:9000' }).baseUrl.href).toBe('http://10.0.0.5:9000/');
    expect(resolveConnection({ url: 'https://router.example' }, { LLM_ROUTER_URL: 'http://x' }).baseUrl.href).toBe('https://router.example/');
    expect(resolveConnection({}, { LLM_ROUTER_ADMIN_KEY: 'adm-env' }).adminKey).toBe('adm-env');
    const file = path.join(dir, 'admin-key');
    writeFileSync(file, 'adm-file\n');
    expect(resolveConnection({ 'admin-key-file': file }, { LLM_ROUTER_ADMIN_KEY: 'adm-env' }).adminKey).toBe('adm-file');
    expect(resolveConnection({}, {}).adminKey).toBeUndefined();
  });

  it('refuses a bad URL, an unreadable or empty key file, a bad timeout as usage errors', () => {
    writeFileSync(path.join(dir, 'empty'), '\n');
    for (const values of [{ url: 'not a url' }, { url: 'ftp://x' }, { 'admin-key-file': path.join(dir, 'missing') }, { 'admin-key-file': path.join(dir, 'empty') }, { timeout: 'soon' }]) {
      expect(() => resolveConnection(values, {}, 'keys')).toThrow(UsageError);
    }
  });
});

describe('the admin client', () => {
  const conn = (adminKey?: string) => ({ baseUrl: new URL('http://127.0.0.1:8080'), adminKey, timeoutMs: 1000 });

  it('sends the admin key as a bearer token and the body as JSON', async () => {
    const c = captureContext(() => ({ status: 201, body: { id: 'key_1' } }));
    expect(await createAdminClient(conn('adm-123'), c.ctx).post('/admin/keys', { name: 'n' })).toEqual({ id: 'key_1' });
    expect(c.calls[0]).toMatchObject({ url: 'http://127.0.0.1:8080/admin/keys', method: 'POST', body: { name: 'n' } });
    expect(c.calls[0]!.headers.authorization).toBe('Bearer adm-123');
    expect(c.calls[0]!.headers['content-type']).toBe('application/json');
  });

  it('turns an OpenAI error body into an ApiError with its message (exit 1), and hints at the key on a 401 without one', async () => {
    const c = captureContext(() => ({ status: 404, body: { error: { message: "No key with id 'x'.", type: 'invalid_request_error', param: 'id', code: 'key_not_found' } } }));
    const err = await createAdminClient(conn('adm'), c.ctx).get('/admin/keys/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ exitCode: 1, status: 404, code: 'key_not_found', param: 'id', message: "404 key_not_found: No key with id 'x'." });
    const unauth = captureContext(() => ({ status: 401, body: { error: { message: 'Admin key required.', code: 'invalid_api_key' } } }));
    const e401 = (await createAdminClient(conn(), unauth.ctx).get('/admin/targets').catch((e: unknown) => e)) as Error;
    expect(e401.message).toMatch(/LLM_ROUTER_ADMIN_KEY/);
    const html = captureContext(() => ({ status: 502, body: '<html>bad gateway</html>' }));
    expect(((await createAdminClient(conn(), html.ctx).get('/admin/targets').catch((e: unknown) => e)) as Error).message).toBe('502: <html>bad gateway</html>');
  });

  it('says the router cannot be reached (exit 3) on a refused connection or a timeout, never naming the key', async () => {
    const c = captureContext(() => refused());
    const err = (await createAdminClient(conn('adm-secret-value'), c.ctx).get('/admin/targets').catch((e: unknown) => e)) as UnreachableError;
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err.exitCode).toBe(3);
    expect(err.message).toBe('cannot reach the router at http://127.0.0.1:8080: ECONNREFUSED');
    const slow = captureContext(() => Object.assign(new Error('timed out'), { name: 'TimeoutError' }));
    const timeout = (await createAdminClient(conn('adm-secret-value'), slow.ctx).get('/admin/targets').catch((e: unknown) => e)) as UnreachableError;
    expect(timeout).toBeInstanceOf(UnreachableError);
    expect(timeout.message).toMatch(/did not answer within 1s/);
    expect(err.message + timeout.message + c.err() + slow.err()).not.toContain('adm-secret-value');
  });

  it('warns when the admin key would cross a network in clear text', () => {
    const c = captureContext();
    createAdminClient({ baseUrl: new URL('http://10.1.2.3:8080'), adminKey: 'adm', timeoutMs: 1000 }, c.ctx);
    expect(c.err()).toMatch(/plain http/);
    const local = captureContext();
    createAdminClient(conn('adm'), local.ctx);
    createAdminClient({ baseUrl: new URL('https://10.1.2.3'), adminKey: 'adm', timeoutMs: 1000 }, local.ctx);
    expect(local.err()).toBe('');
  });
});
