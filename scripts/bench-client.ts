/**
 * The upstream client alone, side by side in one run: node:http with a keep-alive Agent (what the
 * lean baseline uses) against undici's Pool driven through dispatch (what the router's chat hot
 * path uses, providers/shared/upstream-http.ts), 16 concurrent loops POSTing the benchmark's
 * chat body to the mock upstream, each answer read whole and JSON.parsed. Prints CPU per request
 * of this process (client only) and requests per second. Bounded: 2 rounds × 3 clients × 20,000
 * requests, loopback only.
 *   npm run bench:client
 */
import { Agent, request } from 'node:http';
// The Pool alone, as upstream-http.ts imports it.
import PoolImpl from 'undici/lib/dispatcher/pool.js';
import path from 'node:path'; import { mkdtempSync } from 'node:fs'; import { tmpdir } from 'node:os';
import { compileStandalone, startNode, stopAll } from './bench/proc-stats.js';
const dir = mkdtempSync(path.join(tmpdir(), 'cm-'));
const mockJs = await compileStandalone('scripts/bench/mock-upstream.ts', path.join(dir, 'bin'));
const up = await startNode([mockJs, '0']);
const port = Number(up.firstLine);
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a concise assistant for an engineering team.' }, { role: 'user', content: 'In two or three sentences, explain what an LLM router does and why a team would run one.' }], max_tokens: 256, temperature: 0.2 });
const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-x', 'content-length': String(Buffer.byteLength(body)) };
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const viaHttp = () => new Promise<void>((res, rej) => { const r = request({ agent, host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', headers }, (u) => { const p: Buffer[] = []; u.on('data', (c) => p.push(c)); u.on('end', () => { JSON.parse(Buffer.concat(p).toString()); res(); }); }); r.on('error', rej); r.end(body); });
const pool = new PoolImpl(`http://127.0.0.1:${port}`, { connections: 64, headersTimeout: 0, bodyTimeout: 0 });
const viaUndici = (blocking: boolean) => () => new Promise<void>((res, rej) => { const p: Buffer[] = []; pool.dispatch({ path: '/v1/chat/completions', method: 'POST', headers, body, blocking }, { onRequestStart() {}, onResponseStart() {}, onResponseData(_c: unknown, ch: Buffer) { p.push(ch); }, onResponseEnd() { JSON.parse(Buffer.concat(p).toString()); res(); }, onResponseError(_c: unknown, e: Error) { rej(e); } } as never); });
async function bench(name: string, fn: () => Promise<void>, n = 20000) {
  const loop = async (k: number) => { for (let i = 0; i < k; i++) await fn(); };
  await Promise.all(Array.from({ length: 16 }, () => loop(200)));
  const c0 = process.cpuUsage(); const t0 = performance.now();
  await Promise.all(Array.from({ length: 16 }, () => loop(n / 16)));
  const c = process.cpuUsage(c0); const ms = performance.now() - t0;
  console.log(`${name}: ${((c.user + c.system) / 1000 / n * 1000).toFixed(1)} µs CPU/req, ${(n / ms * 1000).toFixed(0)} rps`);
}
for (let r = 0; r < 2; r++) { await bench('node:http', viaHttp); await bench('undici blocking', viaUndici(true)); await bench('undici', viaUndici(false)); }
await pool.close(); agent.destroy(); await stopAll();
