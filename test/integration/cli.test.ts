/**
 * The `llm-router` CLI as an operator runs it: a child process (`node --import tsx
 * src/cli/main.ts …`, no build needed) against a real router on loopback with an admin key,
 * in front of a fake upstream. Spawns are few (each ~1 s of tsx start-up); the command
 * parsing and formatting details are the unit tests' (test/unit/cli/).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ADMIN = 'admin-key-for-the-cli-test-0001';
const APP = 'app-key-for-the-cli-test-0001';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Everything any command printed: the admin key must never be in it. */
const printed: string[] = [];

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: REPO,
      // Only what the test gives: an operator's own LLM_ROUTER_* must not leak in.
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      printed.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('llm-router CLI', () => {
  let up: FakeUpstream;
  let h: RouterHarness;
  let dir: string;
  let admin: NodeJS.ProcessEnv;

  beforeAll(async () => {
    up = await startFakeUpstream();
    h = await startRouter(`
auth:
  adminKeys: [${ADMIN}]
  keys: [${APP}]
providers:
  up: { kind: openai, apiKeys: [sk-upstream], baseURL: "${up.url}/v1" }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }], retry: { attempts: 1 } }
`);
    dir = mkdtempSync(path.join(tmpdir(), 'cli-test-'));
    admin = { LLM_ROUTER_URL: h.url, LLM_ROUTER_ADMIN_KEY: ADMIN };
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(printed.join('')).not.toContain(ADMIN);
  });

  it('check: the shipped config is valid, a broken one exits 1 naming file, line and field', async () => {
    const r = await cli(['check', 'config/router.yaml', 'test/fixtures/bad-config.yaml', '--json']);
    expect(r.code).toBe(1);
    const [good, bad] = JSON.parse(r.stdout) as Array<{ file: string; ok: boolean; routes: string[]; problems: Array<{ message: string }> }>;
    expect(good).toMatchObject({ file: 'config/router.yaml', ok: true });
    expect(good!.routes).toContain('chat');
    expect(bad!.ok).toBe(false);
    expect(bad!.problems[0]!.message).toMatch(/^test\/fixtures\/bad-config\.yaml:3:\d+: routes\.chat\.targets\[0\]\.provider: unknown provider "nope"/);
  });

  it('keys: create (secret shown once) → list --json shows it → revoke; an unknown id exits 1 with the router\'s message', async () => {
    const created = await cli(['keys', 'create', '--name', 'cli-made', '--routes', 'chat', '--rpm', '600', '--json'], admin);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; secret: string; name: string; limits: { rpm: number } };
    expect(key).toMatchObject({ name: 'cli-made', limits: { rpm: 600 } });
    expect(key.secret).toMatch(/^sk-rt-/);

    const listed = await cli(['keys', 'list', '--json'], admin);
    expect(listed.code).toBe(0);
    const list = JSON.parse(listed.stdout) as { data: Array<{ id: string; status: string; secret?: string }> };
    expect(list.data.find((k) => k.id === key.id)).toMatchObject({ status: 'active' });
    expect(listed.stdout).not.toContain(key.secret);

    const revoked = await cli(['keys', 'revoke', key.id], admin);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^${key.id} \\(cli-made\\): revoked at `));
    // The router agrees: the secret no longer works.
    const refused = await fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(refused.status).toBe(401);

    const unknown = await cli(['keys', 'show', 'key_does_not_exist'], admin);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^llm-router: 404 key_not_found: No key with id 'key_does_not_exist'/);
  });

  it('targets, drain and restore: the table, then the state changing on the router', async () => {
    // The admin key from a file this time (it stays out of shell history and ps).
    const keyFile = path.join(dir, 'admin-key');
    writeFileSync(keyFile, `${ADMIN}\n`, { mode: 0o600 });
    const table = await cli(['targets', '--url', h.url, '--admin-key-file', keyFile]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^TARGET\s+STATE\s+SINCE\s+PROBATION\s+ROUTES\s+REASON$/);
    expect(table.stdout).toMatch(/^up\/gpt-4o-mini\s+healthy\s+\d{4}-\d\d-\d\d \S+Z \(\S+ ago\)\s+-\s+chat\s+-$/m);

    const drained = await cli(['drain', 'up/gpt-4o-mini', '--reason', 'cli test'], admin);
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.stdout).toBe('up/gpt-4o-mini: drained (cli test)\n');
    const view = (await (await fetch(`${h.url}/admin/targets/up/gpt-4o-mini`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { state: string; drain: { reason: string } };
    expect(view).toMatchObject({ state: 'drained', drain: { reason: 'cli test' } });

    const restored = await cli(['restore', 'up/gpt-4o-mini', '--json'], admin);
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ provider: 'up', model: 'gpt-4o-mini', state: 'healthy', drain: null });
  });

  it('loadtest: 20 mixed calls through the router without an error, then usage --json counts them per key and route', async () => {
    const r = await cli(['loadtest', h.baseURL, '--requests', '20', '--concurrency', '4', '--model', 'chat', '--json'], { LLM_ROUTER_API_KEY: APP });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { requests: number; streamed: number; ok: number; failed: number; errors: Record<string, number>; rps: number; latencyMs: { p50: number; p99: number }; ttftMs: { p50: number; p99: number } };
    expect(s).toMatchObject({ requests: 20, streamed: 10, ok: 20, failed: 0, errors: {} });
    expect(s.rps).toBeGreaterThan(0);
    expect(s.latencyMs.p99).toBeGreaterThanOrEqual(s.latencyMs.p50);
    expect(s.ttftMs.p50).toBeGreaterThan(0);
    expect(up.chatRequests()).toHaveLength(20);
    // Not a terminal: no progress bar escapes in its output.
    expect(r.stderr).not.toContain('\r');

    const usage = await cli(['usage', '--from', '-1h', '--group-by', 'key,route', '--json'], admin);
    expect(usage.code, usage.stderr).toBe(0);
    const report = JSON.parse(usage.stdout) as { groupBy: string[]; data: Array<{ group: Record<string, string>; requests: number; errors: number }> };
    expect(report.groupBy).toEqual(['key', 'route']);
    expect(report.data).toContainEqual(expect.objectContaining({ group: { key: 'key-0', route: 'chat' }, requests: 20, errors: 0 }));
  });

  it('exits 3 when the router cannot be reached', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await cli(['targets', '--url', `http://127.0.0.1:${port}`], { LLM_ROUTER_ADMIN_KEY: ADMIN });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`llm-router: cannot reach the router at http://127.0.0.1:${port}: ECONNREFUSED\n`);
  });
});
