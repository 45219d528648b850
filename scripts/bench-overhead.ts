/**
 * Measures what the router adds over calling an upstream directly (run by hand, not a test):
 *   npm run bench [-- --duration 10]
 * Starts a static upstream and the router (each its own process), then drives both with
 * autocannon at 1, 16 and 64 connections, and measures streaming time-to-first-byte both ways.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, ttfb: { type: 'string', default: '1000' } } });
const duration = Number(values.duration);
const body = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Say hello.' }] });

function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; firstLine: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ child, firstLine: buf.slice(0, nl) });
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never became ready`);
}

async function load(url: string, connections: number) {
  const r = await autocannon({ url, connections, duration, method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

/** Whole-request latency of sequential non-streamed calls, with sub-millisecond resolution. */
async function sequential(url: string, n: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(n * 0.5)]!, p99: times[Math.floor(n * 0.99)]! };
}

/** Time to the first byte of a streamed answer, over sequential requests. */
async function ttfb(url: string, n: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  const streamBody = JSON.stringify({ model: 'bench', stream: true, messages: [{ role: 'user', content: 'Say hello.' }] });
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: streamBody });
    const reader = res.body!.getReader();
    await reader.read();
    times.push(performance.now() - t0);
    while (!(await reader.read()).done);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(n * 0.5)]!, p99: times[Math.floor(n * 0.99)]! };
}

async function main(): Promise<void> {
  const upstream = await start(['scripts/bench/static-upstream.ts', '0']);
  const upstreamUrl = `http://127.0.0.1:${upstream.firstLine.trim()}/v1`;
  const dir = mkdtempSync(path.join(tmpdir(), 'router-bench-'));
  const config = path.join(dir, 'router.yaml');
  writeFileSync(config, `providers:\n  up: { kind: openai, apiKeys: [bench-key], baseURL: "${upstreamUrl}" }\nroutes:\n  bench: { targets: [{ provider: up, model: bench-model }] }\nlogging: { level: warn }\n`);
  const routerPort = 18000 + Math.floor(Math.random() * 1000);
  const router = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', config, '--port', String(routerPort)], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  const routerUrl = `http://127.0.0.1:${routerPort}/v1`;
  try {
    await waitReady(`http://127.0.0.1:${routerPort}/healthz`);
    // Warm both paths (JIT, connection pools).
    await load(`${upstreamUrl}/chat/completions`, 8).catch(() => {});
    await load(`${routerUrl}/chat/completions`, 8);
    const rows: string[] = [];
    for (const c of [1, 16, 64]) {
      const direct = await load(`${upstreamUrl}/chat/completions`, c);
      const via = await load(`${routerUrl}/chat/completions`, c);
      rows.push(
        `${String(c).padStart(3)} conns | direct ${direct.rps.toFixed(0).padStart(6)} rps p50 ${direct.p50} ms p99 ${direct.p99} ms | ` +
          `router ${via.rps.toFixed(0).padStart(6)} rps p50 ${via.p50} ms p99 ${via.p99} ms | added p50 ${(via.p50 - direct.p50).toFixed(2)} ms p99 ${(via.p99 - direct.p99).toFixed(2)} ms | rps ${((via.rps / direct.rps) * 100).toFixed(0)}% of direct`,
      );
    }
    const n = Number(values.ttfb);
    const dS = await sequential(`${upstreamUrl}/chat/completions`, n);
    const rS = await sequential(`${routerUrl}/chat/completions`, n);
    const dT = await ttfb(`${upstreamUrl}/chat/completions`, n);
    const rT = await ttfb(`${routerUrl}/chat/completions`, n);
    const metrics = await (await fetch(`http://127.0.0.1:${routerPort}/metrics`)).text();
    const rss = /llm_router_process_resident_memory_bytes (\d+)/.exec(metrics)?.[1];
    console.log(`\nRouter overhead benchmark (${duration}s per run, static upstream, same machine)\n`);
    for (const r of rows) console.log(r);
    console.log(`non-stream (${n} sequential) | direct p50 ${dS.p50.toFixed(2)} ms p99 ${dS.p99.toFixed(2)} ms | router p50 ${rS.p50.toFixed(2)} ms p99 ${rS.p99.toFixed(2)} ms | added p50 ${(rS.p50 - dS.p50).toFixed(2)} ms p99 ${(rS.p99 - dS.p99).toFixed(2)} ms`);
    console.log(`stream TTFB (${n} sequential) | direct p50 ${dT.p50.toFixed(2)} ms p99 ${dT.p99.toFixed(2)} ms | router p50 ${rT.p50.toFixed(2)} ms p99 ${rT.p99.toFixed(2)} ms | added p50 ${(rT.p50 - dT.p50).toFixed(2)} ms`);
    console.log(`router RSS after load: ${rss ? (Number(rss) / 2 ** 20).toFixed(0) : '?'} MiB`);
    const self = /llm_router_overhead_seconds_sum\{route="bench",stream="false"\} ([\d.e-]+)\n.*?llm_router_overhead_seconds_count\{route="bench",stream="false"\} (\d+)/s.exec(metrics);
    if (self) console.log(`router-measured overhead (x-router-overhead-ms), mean: ${((Number(self[1]) / Number(self[2])) * 1000).toFixed(3)} ms`);
  } finally {
    router.kill('SIGTERM');
    upstream.child.kill('SIGTERM');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
