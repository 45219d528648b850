/**
 * The upstream client alone, side by side in one run: node:http with a keep-alive Agent (what the
 * lean baseline uses) against undici's Pool driven through dispatch (what the router's chat hot
 * path uses, providers/shared/upstream-http.ts, with `blocking: true`; plain dispatch for
 * reference), 16 concurrent loops POSTing the benchmark's chat body to the mock upstream, each
 * answer read whole and JSON.parsed. Prints this process's CPU per request (the client only) and
 * requests per second. Bounded: 2 rounds × 3 clients × 20,000 requests, loopback only.
 *   npm run bench:client
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Dispatcher } from 'undici';
// The Pool alone, as upstream-http.ts imports it.
import PoolImpl from 'undici/lib/dispatcher/pool.js';
import { benchMessages } from './bench/chat-messages.js';
import { compileStandalone, startNode, stopAll } from './bench/proc-stats.js';

const CONCURRENCY = 16;
const REQUESTS = 20_000;
const PATH = '/v1/chat/completions';
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: benchMessages, max_tokens: 256, temperature: 0.2 });
const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-bench-client', 'content-length': String(Buffer.byteLength(body)) };

type Client = () => Promise<void>;

function viaHttp(agent: Agent, port: number): Client {
  return () =>
    new Promise<void>((resolve, reject) => {
      const req = request({ agent, host: '127.0.0.1', port, path: PATH, method: 'POST', headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          JSON.parse(Buffer.concat(parts).toString('utf8'));
          resolve();
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
}

function viaUndici(pool: Dispatcher, blocking: boolean): Client {
  return () =>
    new Promise<void>((resolve, reject) => {
      const parts: Buffer[] = [];
      const handler = {
        onRequestStart() {},
        onResponseStart() {},
        onResponseData(_c: unknown, chunk: Buffer) {
          parts.push(chunk);
        },
        onResponseEnd() {
          JSON.parse(Buffer.concat(parts).toString('utf8'));
          resolve();
        },
        onResponseError(_c: unknown, err: Error) {
          reject(err);
        },
      };
      pool.dispatch({ path: PATH, method: 'POST', headers, body, blocking }, handler as unknown as Dispatcher.DispatchHandler);
    });
}

/** A short warm-up, then REQUESTS calls over CONCURRENCY loops; prints CPU per request and rps. */
async function bench(name: string, call: Client): Promise<void> {
  const loops = (each: number) => Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = 0; i < each; i++) await call();
  }));
  await loops(200);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await loops(REQUESTS / CONCURRENCY);
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  console.log(`${name.padEnd(28)} ${((cpu.user + cpu.system) / REQUESTS).toFixed(1).padStart(6)} µs CPU/request, ${(REQUESTS / seconds).toFixed(0).padStart(6)} rps`);
}

const dir = mkdtempSync(path.join(tmpdir(), 'bench-client-'));
try {
  const mockJs = await compileStandalone('scripts/bench/mock-upstream.ts', path.join(dir, 'bin'));
  const port = Number((await startNode([mockJs, '0'])).firstLine);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const pool = new PoolImpl(`http://127.0.0.1:${port}`, { connections: 64, headersTimeout: 0, bodyTimeout: 0 });
  for (let round = 1; round <= 2; round++) {
    console.log(`round ${round}/2`);
    await bench('node:http (lean baseline)', viaHttp(agent, port));
    await bench('undici blocking (router)', viaUndici(pool, true));
    await bench('undici', viaUndici(pool, false));
  }
  await pool.close();
  agent.destroy();
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}
