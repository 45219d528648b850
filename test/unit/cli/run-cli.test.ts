import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/run-cli.js';
import { captureContext, refused } from './capture-context.js';

describe('llm-router exit codes', () => {
  it('0 for help, on every command, and for the version', async () => {
    for (const argv of [['--help'], ['help'], ['help', 'usage'], ['keys', '--help'], ['keys', 'create', '--help'], ['loadtest', '--help'], ['start', '--help'], ['drain', '-h'], ['model', '--help']]) {
      const c = captureContext();
      expect(await runCli(argv, c.ctx), argv.join(' ')).toBe(0);
      expect(c.out()).toMatch(/Usage: llm-router/);
      expect(c.calls).toEqual([]);
    }
    const v = captureContext();
    expect(await runCli(['--version'], v.ctx)).toBe(0);
    expect(v.out()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('2 for a usage error, pointing at the help, before anything is sent', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /give a command/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['targets', '--bogus'], /see: llm-router targets --help/],
      [['drain'], /drain takes one PROVIDER\/MODEL/],
      [['drain', 'openai'], /PROVIDER\/MODEL/],
      [['keys'], /keys needs a command/],
      [['keys', 'explode'], /unknown keys command/],
      [['keys', 'create'], /needs --name/],
      [['keys', 'create', '--name', 'x', '--rpm', 'lots'], /--rpm must be an integer/],
      [['keys', 'create', '--name', 'x', '--budget-usd', '5'], /go together/],
      [['keys', 'revoke'], /one key ID/],
      [['usage', '--json', '--csv'], /not both/],
      [['loadtest'], /one URL/],
      [['loadtest', 'http://x', '--requests', '100001'], /at most|from 1 to 100000/],
      [['loadtest', 'http://x', '--concurrency', '0'], /--concurrency/],
      [['start', '--port', 'http'], /invalid port/],
      [['targets', '--url', 'nope'], /--url/],
    ];
    for (const [argv, message] of cases) {
      const c = captureContext();
      expect(await runCli(argv, c.ctx), argv.join(' ')).toBe(2);
      expect(c.err(), argv.join(' ')).toMatch(message);
      expect(c.calls, argv.join(' ')).toEqual([]);
    }
  });

  it('1 when the router refuses, printing its message', async () => {
    const c = captureContext(() => ({ status: 409, body: { error: { message: "Target 'a/b' is not drained.", code: 'not_drained' } } }), { LLM_ROUTER_ADMIN_KEY: 'adm-xyz' });
    expect(await runCli(['release', 'a/b'], c.ctx)).toBe(1);
    expect(c.err()).toBe("llm-router: 409 not_drained: Target 'a/b' is not drained.\n");
    expect(c.out() + c.err()).not.toContain('adm-xyz');
  });

  it('3 when the router cannot be reached', async () => {
    const c = captureContext(() => refused());
    expect(await runCli(['keys', 'list', '--url', 'http://127.0.0.1:9'], c.ctx)).toBe(3);
    expect(c.err()).toMatch(/cannot reach the router at http:\/\/127\.0\.0\.1:9: ECONNREFUSED/);
  });

  it('sends what the flags say: usage query, key body, a drain with its reason, a model with "/" as one segment', async () => {
    const c = captureContext((url) => {
      if (url.pathname === '/admin/usage') return { status: 200, body: { from: 'a', to: 'b', groupBy: ['key', 'route'], data: [], totals: { requests: 0 } } };
      if (url.pathname === '/admin/keys') return { status: 201, body: { id: 'key_1', name: 'ci', secret: 'sk-rt-abc', status: 'active' } };
      return { status: 200, body: { provider: 'hf', model: 'meta-llama/Llama-3.1-8B', state: 'drained', drain: { reason: 'upgrade' } } };
    });
    expect(await runCli(['usage', '--from', '-24h', '--group-by', 'key,route', '--route', 'chat'], c.ctx)).toBe(0);
    const q = new URL(c.calls[0]!.url).searchParams;
    expect(Object.fromEntries(q)).toEqual({ from: '-24h', groupBy: 'key,route', route: 'chat' });
    expect(await runCli(['keys', 'create', '--name', 'ci', '--routes', 'chat,other', '--rpm', '60', '--budget-usd', '5', '--budget-period', 'day', '--metadata', 'owner=ana', '--metadata', 'env=ci'], c.ctx)).toBe(0);
    expect(c.calls[1]!.body).toEqual({ name: 'ci', routes: ['chat', 'other'], limits: { rpm: 60 }, budget: { amountUsd: 5, period: 'day' }, metadata: { owner: 'ana', env: 'ci' } });
    expect(c.out()).toContain('secret: sk-rt-abc');
    expect(await runCli(['drain', 'hf/meta-llama/Llama-3.1-8B', '--reason', 'upgrade'], c.ctx)).toBe(0);
    expect(c.calls[2]).toMatchObject({ method: 'POST', url: 'http://127.0.0.1:8080/admin/targets/hf/meta-llama%2FLlama-3.1-8B/drain', body: { reason: 'upgrade' } });
    expect(c.out()).toContain('hf/meta-llama/Llama-3.1-8B: drained (upgrade)');
  });
});
