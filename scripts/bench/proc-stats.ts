/**
 * Helpers shared by the benchmark (scripts/bench-overhead.ts) and the soak (scripts/bench-soak.ts):
 * a process's CPU time and RSS from /proc, child processes that die with the harness, the
 * compiled router with a realistic config, and a raw node:http client that times the first SSE
 * event. Linux only (/proc).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request, type Agent, type OutgoingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (scripts/bench/ is two levels down). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---------------------------------------------------------------------------------------------
// /proc

let ticks: number | undefined;
/** Clock ticks per second (`getconf CLK_TCK`, normally 100). */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** CPU time (user + system, every thread) the process has used so far, in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may hold spaces and parentheses: count from the last ')'. Fields 14 and 15
  // (utime, stime) are the 12th and 13th after it (which starts at field 3).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot read utime/stime from /proc/${pid}/stat`);
  return ((utime + stime) * 1000) / clockTicks();
}

/** Resident set size (VmRSS of /proc/<pid>/status), in MiB. */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

// ---------------------------------------------------------------------------------------------
// Numbers

/** The q-quantile (0–1) of values, nearest rank. */
export function percentile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Child processes: every one started here is killed when the harness exits, however it exits.

const children = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // 'exit' handlers cannot wait: whatever is still alive then gets SIGKILL.
  process.on('exit', () => killAll('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAll('SIGTERM');
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Signals every child started here that is still running. */
export function killAll(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  }
}

/** Stops every child started here (SIGTERM, SIGKILL after `graceMs`) and waits for them. */
export async function stopAll(graceMs = 10_000): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, graceMs)));
}

function alive(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
export async function stopChild(c: ChildProcess, graceMs = 10_000): Promise<void> {
  if (!alive(c)) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => alive(c) && c.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

export interface Started {
  child: ChildProcess;
  pid: number;
  /** The first line it printed on stdout (the port, for the mock upstream and the lean server). */
  firstLine: string;
}

/**
 * Starts `node …args` and resolves with its first stdout line (its port). stderr is inherited,
 * so a crash explains itself.
 */
export function startNode(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Started> {
  hookExit();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO, env: childEnv(env), stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let buf = '';
    let done = false;
    child.stdout!.on('data', (d: Buffer) => {
      if (done) return;
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        done = true;
        resolve({ child, pid: child.pid!, firstLine: buf.slice(0, nl).trim() });
      }
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (!done) reject(new Error(`node ${args.join(' ')} exited (${code ?? signal}) before printing its port`));
    });
  });
}

/** The environment of a child: ours without what would change how it runs (tsx hooks, overrides). */
function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', ...extra };
  for (const k of ['LOG_LEVEL', 'HOST', 'PORT', 'ROUTER_CONFIG']) delete env[k];
  if (env.NODE_OPTIONS?.includes('tsx')) delete env.NODE_OPTIONS;
  return env;
}

/**
 * Turns a self-contained TypeScript file (node builtins only) into an .mjs in `outDir`, so it
 * runs as plain node like the compiled router (no loader in the measured process).
 */
export async function compileStandalone(file: string, outDir: string): Promise<string> {
  const ts = (await import('typescript')).default;
  const src = readFileSync(path.join(REPO, file), 'utf8');
  const out = ts.transpileModule(src, { fileName: file, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  mkdirSync(outDir, { recursive: true });
  const dest = path.join(outDir, `${path.basename(file, '.ts')}.mjs`);
  writeFileSync(dest, out.outputText);
  return dest;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Runs `npm run build` (incremental tsc into dist/); throws when it fails. */
export function buildRouter(): void {
  console.log('building the router (npm run build) …');
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: REPO, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm run build failed (${r.status ?? r.signal})`);
  if (!existsSync(path.join(REPO, 'dist/src/main.js'))) throw new Error('npm run build made no dist/src/main.js');
}

// ---------------------------------------------------------------------------------------------
// The router, compiled, with a realistic config.

export interface RouterSetup {
  dir: string;
  configFile: string;
  logFile: string;
  clientKey: string;
  adminKey: string;
  upstreamKey: string;
  /** The secrets, passed to the router as environment variables (the config names them). */
  env: NodeJS.ProcessEnv;
}

/**
 * Writes the production-shaped config into `dir`: one `openai` provider on the mock upstream,
 * route `bench`, a config-declared virtual key (the README's normal setup) with one rate limit
 * that never trips, an admin key for /metrics, info logs, memory state under `dir/data`.
 * `extraYaml` adds providers/routes (indented to sit under `providers:`/`routes:`).
 */
export function writeRouterConfig(dir: string, upstreamBaseUrl: string, extra: { providers?: string; routes?: string; keyRoutes?: string[] } = {}): RouterSetup {
  const secret = (p: string) => `${p}${randomBytes(24).toString('hex')}`;
  const clientKey = secret('sk-bench-');
  const adminKey = secret('sk-admin-');
  const upstreamKey = secret('sk-upstream-');
  const keyRoutes = extra.keyRoutes ?? ['bench'];
  const configFile = path.join(dir, 'router.yaml');
  writeFileSync(
    configFile,
    `# Written by scripts/bench: a production-shaped config over the mock upstream.
server:
  host: 127.0.0.1
auth:
  adminKeys: ["\${BENCH_ADMIN_KEY}"]
  keySecret: "\${BENCH_KEY_SECRET}"
  virtualKeys:
    - id: bench-app
      name: Benchmark app
      team: bench
      routes: [${keyRoutes.join(', ')}]
      limits: { rpm: 100000000 }          # the one rate limit: checked on every request, never trips
      secret: "\${BENCH_CLIENT_KEY}"
logging: { level: info }
state:
  backend: memory
  dataDir: ${JSON.stringify(path.join(dir, 'data'))}
providers:
  upstream: { kind: openai, apiKey: "\${BENCH_UPSTREAM_KEY}", baseURL: ${JSON.stringify(upstreamBaseUrl)} }
${extra.providers ?? ''}routes:
  bench:
    targets: [{ provider: upstream, model: gpt-4o-mini }]
${extra.routes ?? ''}`,
  );
  return {
    dir,
    configFile,
    logFile: path.join(dir, 'router.log'),
    clientKey,
    adminKey,
    upstreamKey,
    env: { BENCH_ADMIN_KEY: adminKey, BENCH_KEY_SECRET: randomBytes(32).toString('base64'), BENCH_CLIENT_KEY: clientKey, BENCH_UPSTREAM_KEY: upstreamKey },
  };
}

export interface RouterProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  base: string;
}

/**
 * The same setup for a second router process: the same config text (keys, limits, upstream)
 * and the same env, but its own config file `dir/<name>.yaml` whose `state.dataDir` is
 * `dir/data-<name>`, and its own log `dir/<name>.log`. Two routers on one dataDir would share
 * keys.json and the usage ledger and fight over the file job store's lock (the loser serves
 * with background jobs off), so they would not run alike.
 */
export function routerSetupCopy(setup: RouterSetup, name: string): RouterSetup {
  const dataLine = `  dataDir: ${JSON.stringify(path.join(setup.dir, 'data'))}\n`;
  const text = readFileSync(setup.configFile, 'utf8');
  if (!text.includes(dataLine)) throw new Error(`routerSetupCopy: no "${dataLine.trim()}" line in ${setup.configFile}`);
  const configFile = path.join(setup.dir, `${name}.yaml`);
  writeFileSync(configFile, text.replace(dataLine, `  dataDir: ${JSON.stringify(path.join(setup.dir, `data-${name}`))}\n`));
  return { ...setup, configFile, logFile: path.join(setup.dir, `${name}.log`) };
}

export interface RouterProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  base: string;
}

export interface StartRouterOptions {
  /** The checkout to run: `node [nodeArgs] <root>/dist/src/main.js` with cwd `root` (default: this one). */
  root?: string;
  /** Names it in errors (default "the router"). */
  label?: string;
}

/**
 * Starts `node [nodeArgs] dist/src/main.js --config … --port …` (not under tsx) in `opts.root`
 * (default this checkout), stdout and stderr into the setup's log file, and waits for /healthz.
 */
export async function startRouter(setup: RouterSetup, nodeArgs: string[] = [], opts: StartRouterOptions = {}): Promise<RouterProcess> {
  hookExit();
  const root = opts.root ?? REPO;
  const label = opts.label ?? 'the router';
  const main = path.join(root, 'dist/src/main.js');
  if (!existsSync(main)) throw new Error(`${label}: no ${main} (build that checkout: npm run build)`);
  const port = await freePort();
  const log = openSync(setup.logFile, 'a');
  const child = spawn(process.execPath, [...nodeArgs, main, '--config', setup.configFile, '--port', String(port)], {
    cwd: root,
    env: childEnv(setup.env),
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  children.add(child);
  child.once('exit', () => children.delete(child));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!alive(child)) throw new Error(`${label} exited (${child.exitCode ?? child.signalCode}) at start; its log ${setup.logFile}:\n${tail(setup.logFile)}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${label} never answered /healthz; its log ${setup.logFile}:\n${tail(setup.logFile)}`);
    await sleep(100);
  }
  return { child, pid: child.pid!, port, base };
}

/** The last lines of a file (for errors). */
export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------------------------------------
// A raw node:http client (no fetch: its own overhead would blur sub-millisecond figures).

export interface RawResult {
  status: number;
  body: string;
  contentType: string;
  /** ms from the request's start to the first received bytes holding an SSE `data:` event. */
  firstEventMs: number | undefined;
  totalMs: number;
}

export function rawRequest(agent: Agent, target: URL, method: string, headers: OutgoingHttpHeaders, body?: string): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      { agent, host: target.hostname, port: target.port, path: target.pathname + target.search, method, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.setEncoding('utf8');
        let text = '';
        let firstEventMs: number | undefined;
        res.on('data', (s: string) => {
          text += s;
          if (firstEventMs === undefined && text.includes('data:')) firstEventMs = performance.now() - t0;
        });
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, contentType: String(res.headers['content-type'] ?? ''), firstEventMs, totalMs: performance.now() - t0 }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Whether a body is a complete SSE stream: `data:` events, the last one `[DONE]`. */
export function sseEvents(body: string): { events: string[]; done: boolean } {
  const events = body
    .split(/\r?\n\r?\n/)
    .map((e) => e.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n'))
    .filter((d) => d.length > 0);
  return { events, done: events.at(-1) === '[DONE]' };
}
