/**
 * What content safety adds to a streamed answer (run by hand, not a test):
 *   npx tsx scripts/bench-safety-stream.ts [--requests 300] [--chunks 200] [--terms 10000]
 * One fake upstream streams an answer of `chunks` content deltas; two routers in this process
 * stand in front of it, one without a safety policy (the baseline) and one with a lexicon of
 * `terms` terms (mask and block on output), output secret detection and reversible email
 * redaction. Requests alternate between them, so both see the same machine noise. Reported:
 * time to the first content token (p50/p90), the whole stream, and the added time per chunk
 * (the stream time past the upstream's pause, divided by the chunks).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parseConfig } from '../src/config/load-config.js';
import { createMetrics } from '../src/observability/metrics.js';
import { createServer } from '../src/server.js';
import { createProvider } from '../providers/registry.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '300' }, chunks: { type: 'string', default: '200' }, terms: { type: 'string', default: '10000' } } });
const REQUESTS = Number(values.requests);
const CHUNKS = Number(values.chunks);
const TERMS = Number(values.terms);

const words = ['the', 'router', 'answers', 'every', 'request', 'quickly', 'and', 'safely', 'with', 'a', 'model', '模型', '回答', 'bad'];
const frame = (delta: object, finish: string | null) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
const parts = Array.from({ length: CHUNKS }, (_, i) => `${words[i % words.length]} `);
// The opening and the first content chunk at once, the rest after a pause: the first token is
// measured on its own, then the remaining chunks arrive together (their processing cost).
const head = frame({ role: 'assistant', content: '' }, null) + frame({ content: 'Hello ' }, null);
const tail = parts.map((t) => frame({ content: t }, null)).join('') + frame({}, 'stop') + 'data: [DONE]\n\n';
const PAUSE_MS = 20;

const upstream = createHttpServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(head);
    setTimeout(() => res.end(tail), PAUSE_MS);
  });
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const upUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;

const dir = mkdtempSync(path.join(tmpdir(), 'bench-safety-'));
const rnd = (n: number) => Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');
const terms = Array.from({ length: TERMS }, (_, i) => (i % 5 === 0 ? `禁${rnd(2)}词${i}` : `${rnd(5 + (i % 8))}${i}`));
writeFileSync(path.join(dir, 'latin.txt'), terms.filter((t) => !t.startsWith('禁')).join('\n'));
writeFileSync(path.join(dir, 'cjk.txt'), terms.filter((t) => t.startsWith('禁')).join('\n'));
writeFileSync(path.join(dir, 'adult.txt'), 'badword\n');

const base = `
providers:
  up: { kind: openai, apiKeys: [sk-bench], baseURL: "${upUrl}" }
routes:
  plain: { targets: [{ provider: up, model: m }] }
  safe: { targets: [{ provider: up, model: m }], safety: strict }
state: { dataDir: ${dir}/state }
safety:
  lexicons:
    latin: { file: ${dir}/latin.txt, category: custom }
    cjk: { file: ${dir}/cjk.txt, category: politics, wordBoundary: false }
    adult: { file: ${dir}/adult.txt, category: adult }
  policies:
    strict:
      lexicon: { custom: { input: block, output: block }, politics: { input: block, output: block }, adult: { input: mask, output: mask } }
      pii: { email: { input: redact, reversible: true }, secrets: { input: block, output: redact } }
`;
const loaded = parseConfig(base, 'bench.yaml', {});
loaded.baseDir = dir;
const server = createServer(loaded, { logger: pino({ level: 'silent' }), metrics: createMetrics(), buildProvider: createProvider });
await server.listen(0, '127.0.0.1');
const url = `http://127.0.0.1:${server.port()}/v1/chat/completions`;

async function once(route: string): Promise<{ ttft: number; total: number }> {
  const body = JSON.stringify({ model: route, stream: true, messages: [{ role: 'user', content: 'write to bob@example.com about the router' }] });
  const t0 = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let ttft = 0;
  let seen = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!ttft) {
      seen += dec.decode(value, { stream: true });
      // The first event with content (not the role-only opening delta).
      if (/"content":"[^"]/.test(seen)) ttft = performance.now() - t0;
    }
  }
  return { ttft, total: performance.now() - t0 };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const samples: Record<string, { ttft: number[]; total: number[] }> = { plain: { ttft: [], total: [] }, safe: { ttft: [], total: [] } };
for (let i = 0; i < 20; i++) await Promise.all([once('plain'), once('safe')]);
for (let i = 0; i < REQUESTS; i++) {
  for (const route of i % 2 ? ['plain', 'safe'] : ['safe', 'plain']) {
    const r = await once(route);
    samples[route]!.ttft.push(r.ttft);
    samples[route]!.total.push(r.total);
  }
}
const row = (name: string) => {
  const s = samples[name]!;
  return { ttftP50: pct(s.ttft, 0.5), ttftP90: pct(s.ttft, 0.9), totalP50: pct(s.total, 0.5), totalP90: pct(s.total, 0.9) };
};
const plain = row('plain');
const safe = row('safe');
const f = (n: number) => n.toFixed(3);
console.log(`streams of ${CHUNKS} content chunks, ${REQUESTS} requests per router, lexicon of ${TERMS} terms`);
console.log('router            ttft p50 ms  ttft p90 ms  stream p50 ms  stream p90 ms');
console.log(`no safety policy  ${f(plain.ttftP50).padStart(11)}  ${f(plain.ttftP90).padStart(11)}  ${f(plain.totalP50).padStart(13)}  ${f(plain.totalP90).padStart(13)}`);
console.log(`safety policy     ${f(safe.ttftP50).padStart(11)}  ${f(safe.ttftP90).padStart(11)}  ${f(safe.totalP50).padStart(13)}  ${f(safe.totalP90).padStart(13)}`);
console.log(`added TTFT p50: ${f(safe.ttftP50 - plain.ttftP50)} ms (ratio ${(safe.ttftP50 / plain.ttftP50).toFixed(2)})`);
const after = (x: number) => x - PAUSE_MS;
console.log(`added per chunk (stream p50 past the pause): ${(((safe.totalP50 - plain.totalP50) / CHUNKS) * 1000).toFixed(1)} µs; chunk processing ratio ${(after(safe.totalP50) / after(plain.totalP50)).toFixed(2)}`);
await server.close();
upstream.close();
rmSync(dir, { recursive: true, force: true });
