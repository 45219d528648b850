import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigError, LoadedConfig } from '../../../src/config/load-config.js';
import { watchConfig } from '../../../src/config/watch-config.js';

const cfg = (route: string) => `providers:\n  a: { kind: openai, apiKeys: [k] }\nroutes:\n  ${route}: { targets: [{ provider: a, model: m }] }\n`;

function until<T>(get: () => T | undefined, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const v = get();
      if (v !== undefined) return resolve(v);
      if (Date.now() - t0 > ms) return reject(new Error('timed out'));
      setTimeout(tick, 20);
    };
    tick();
  });
}

describe('config hot reload', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('picks up a good edit and rejects a bad one, naming the line', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
    const file = path.join(dir, 'router.yaml');
    writeFileSync(file, cfg('one'));
    let reloaded: LoadedConfig | undefined;
    let rejected: ConfigError | undefined;
    stop = watchConfig(file, { onReload: (l) => (reloaded = l), onRejected: (e) => (rejected = e) }, 50).close;

    writeFileSync(file, cfg('two').replace('model: m', 'model: m, wieght: 2'));
    const bad = await until(() => rejected);
    expect(bad.problems[0]).toMatchObject({ line: 4, path: 'routes.two.targets[0].wieght' });
    expect(reloaded).toBeUndefined();

    // Editors often write a temp file and rename it over the original.
    writeFileSync(path.join(dir, 'tmp.yaml'), cfg('three'));
    renameSync(path.join(dir, 'tmp.yaml'), file);
    const good = await until(() => reloaded);
    expect(Object.keys(good.config.routes)).toEqual(['three']);
  });
});
