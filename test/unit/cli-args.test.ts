import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isLoopback, parseStartOptions } from '../../src/cli-args.js';

describe('start options', () => {
  it('reads flags before the environment, and defaults to config/router.yaml', () => {
    expect(parseStartOptions([], {})).toEqual({ configFile: 'config/router.yaml', host: undefined, port: undefined });
    expect(parseStartOptions([], { ROUTER_CONFIG: 'a.yaml', PORT: '9000', HOST: '::1' })).toEqual({ configFile: 'a.yaml', host: '::1', port: 9000 });
    expect(parseStartOptions(['--config', 'b.yaml', '--port', '9001', '--host', '127.0.0.2'], { ROUTER_CONFIG: 'a.yaml', PORT: '9000' })).toEqual({ configFile: 'b.yaml', host: '127.0.0.2', port: 9001 });
  });

  it('rejects a bad port and unknown flags', () => {
    expect(() => parseStartOptions(['--port', 'http'], {})).toThrow(/invalid port/);
    expect(() => parseStartOptions(['--prot', '1'], {})).toThrow();
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1']) expect(isLoopback(h)).toBe(false);
  });

  it('refuses to listen beyond loopback without client keys', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', 'test/fixtures/no-keys.yaml', '--host', '0.0.0.0', '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stdout + r.stderr).toContain('refusing to listen beyond loopback');
  });

  it('exits with the config problems when the file is invalid', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', 'test/fixtures/bad-config.yaml'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad-config\.yaml:3:\d+: routes\.chat\.targets\[0\]\.provider: unknown provider "nope"/);
  });
});
