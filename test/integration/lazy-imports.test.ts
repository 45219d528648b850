/**
 * What a config does not use is never loaded: the router started on a cloud-only config (one
 * OpenAI provider, memory state, no tracing, no local model) must not import node-llama-cpp,
 * ioredis or the OpenTelemetry SDK (each costs megabytes of idle RSS; the modules that load them
 * lazily: providers/llama-cpp/model-file.ts, src/state/index.ts, src/observability/tracing.ts).
 * A child process runs src/main.ts with a loader hook that reports every module URL it resolves.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Registers a resolve hook (in the loader thread) that writes each resolved URL to stderr. */
const hook = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
import { writeSync } from 'node:fs';
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); writeSync(2, 'RESOLVED ' + r.url + '\\\\n'); return r; }
\`));
`)}`;

/** Starts the router on `yaml`, waits until it listens, stops it; returns the module URLs it resolved. */
async function modulesAtStart(yaml: string, dir: string): Promise<string[]> {
  const file = path.join(dir, 'router.yaml');
  writeFileSync(file, yaml);
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', hook, 'src/main.ts', '--config', file, '--port', '0'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!out.includes('llm-router listening') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  const listening = out.includes('llm-router listening');
  // A moment for what the start kicks off in the background.
  if (listening) await new Promise((r) => setTimeout(r, 500));
  child.kill('SIGTERM');
  await exited;
  if (!listening) throw new Error(`the router did not start:\n${out}\n${err}`);
  return err
    .split('\n')
    .filter((l) => l.startsWith('RESOLVED '))
    .map((l) => l.slice('RESOLVED '.length));
}

describe('lazy imports', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'router-lazy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a cloud-only config loads no node-llama-cpp, no ioredis and no OpenTelemetry SDK', async () => {
    const urls = await modulesAtStart(
      `
auth: { keys: [sk-client-1] }
logging: { level: info }
state: { backend: memory, dataDir: "${path.join(dir, 'data')}" }
providers:
  openai: { kind: openai, apiKey: sk-upstream, baseURL: "http://127.0.0.1:9/v1" }
routes:
  chat:
    targets: [{ provider: openai, model: gpt-4o-mini }]
`,
      dir,
    );
    // The hook works: the router's own modules and the packages it does use are listed.
    expect(urls.some((u) => u.includes('/src/server.ts'))).toBe(true);
    expect(urls.some((u) => u.includes('/node_modules/zod/'))).toBe(true);
    const loaded = (pkg: string) => urls.filter((u) => u.includes(`/node_modules/${pkg}/`));
    expect(loaded('node-llama-cpp')).toEqual([]);
    expect(loaded('ioredis')).toEqual([]);
    expect(loaded('js-tiktoken')).toEqual([]);
    for (const pkg of ['@opentelemetry/sdk-trace-base', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/resources', '@opentelemetry/core']) expect(loaded(pkg)).toEqual([]);
    expect(urls.filter((u) => u.includes('/src/observability/otel-tracing.ts'))).toEqual([]);
  });
});
