/**
 * Soak: does the router's memory stay flat under a long mixed load? (run by hand, never a test)
 *
 *   npm run bench:soak [-- --requests 200000 --concurrency 32 --every 5000]
 *
 * Starts the mock upstream and the compiled router (`node dist/src/main.js`, the benchmark's
 * production-shaped config plus a route `fallback` whose first target is a closed port), then
 * sends a bounded number of mixed requests with bounded concurrency from raw node:http
 * keep-alive clients: ~55% chat, ~30% streamed chat (read to [DONE]), ~5% 400 (bad JSON,
 * no messages), ~3% 401 (wrong key), ~3% 404 (unknown model), ~4% GET /v1/models; a tenth of
 * the chat and streamed calls go to `fallback`. Samples the router's VmRSS every --every
 * requests, and ends with the RSS after warm-up, max, last, the slope over the samples after
 * warm-up, a verdict, and the statuses by kind (anything unexpected, any 5xx, is reported).
 * Exit 0 when every answer was as expected and memory is flat, else 1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mulberry32, numberOption } from './bench/cli-options.js';
import {
  buildRouter,
  compileStandalone,
  freePort,
  rawRequest,
  rssMiB,
  sseEvents,
  startNode,
  startRouter,
  stopAll,
  tail,
  writeRouterConfig,
} from './bench/proc-stats.js';
import { benchMessages } from './bench/chat-messages.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '200000' },
    concurrency: { type: 'string', default: '32' },
    every: { type: 'string', default: '5000' },
    'warmup-at': { type: 'string' },
    seed: { type: 'string', default: '1' },
    'no-build': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`Usage: npm run bench:soak [-- options]
  --requests N      requests in all (default 200000)
  --concurrency N   requests in flight at once (default 32)
  --every N         sample the router's RSS every N requests (default 5000)
  --warmup-at N     the sample memory is judged from (default: a quarter of the run, 50000 of 200000: V8's heap
                    grows to its working size over the first tens of thousands of requests; at most half the run)
  --seed N          the request mix's random seed (default 1)
  --no-build        do not run npm run build first
  --keep            keep the temporary directory (config, router log)`);
  process.exit(0);
}
const int = (name: string, v: string | undefined, min: number) => numberOption(name, v, min, { integer: true });
const total = int('requests', values.requests, 1);
const concurrency = int('concurrency', values.concurrency, 1);
const every = int('every', values.every, 1);
let warmupAt = values['warmup-at'] === undefined ? Math.max(every, Math.floor(total / 4 / every) * every) : int('warmup-at', values['warmup-at'], every);
if (total < 2 * warmupAt) {
  const lowered = Math.max(every, Math.floor(total / 2 / every) * every);
  console.log(`note: ${total} requests is under twice --warmup-at ${warmupAt}: memory is judged from the sample at ${lowered}`);
  warmupAt = lowered;
}

type Kind = 'chat' | 'chat-fallback' | 'stream' | 'stream-fallback' | 'bad-json' | 'no-messages' | 'bad-key' | 'unknown-model' | 'models';
/** Share of each kind, per 100 requests. */
const MIX: Array<[Kind, number, number]> = [
  ['chat', 50, 200],
  ['chat-fallback', 5, 200],
  ['stream', 27, 200],
  ['stream-fallback', 3, 200],
  ['bad-json', 3, 400],
  ['no-messages', 2, 400],
  ['bad-key', 3, 401],
  ['unknown-model', 3, 404],
  ['models', 4, 200],
];
const EXPECTED = Object.fromEntries(MIX.map(([k, , s]) => [k, s])) as Record<Kind, number>;

const random = mulberry32(int('seed', values.seed, 0));
const weightSum = MIX.reduce((s, [, w]) => s + w, 0);
function pick(): Kind {
  let x = random() * weightSum;
  for (const [k, w] of MIX) if ((x -= w) < 0) return k;
  return 'chat';
}

const messages = benchMessages;

interface Sample {
  requests: number;
  rss: number;
  elapsedS: number;
}

/** Least-squares slope of rss over requests, in MiB per 100k requests. */
function slopePer100k(samples: Sample[]): number | undefined {
  if (samples.length < 2) return undefined;
  const n = samples.length;
  const mx = samples.reduce((s, p) => s + p.requests, 0) / n;
  const my = samples.reduce((s, p) => s + p.rss, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of samples) {
    num += (p.requests - mx) * (p.rss - my);
    den += (p.requests - mx) ** 2;
  }
  return den === 0 ? undefined : (num / den) * 100_000;
}

async function main(): Promise<number> {
  if (!values['no-build']) buildRouter();
  const dir = mkdtempSync(path.join(tmpdir(), 'router-soak-'));
  let keep = values.keep;
  try {
    const mockJs = await compileStandalone('scripts/bench/mock-upstream.ts', path.join(dir, 'bin'));
    const upstream = await startNode([mockJs, '0']);
    const upstreamBase = `http://127.0.0.1:${upstream.firstLine}/v1`;
    const closed = await freePort(); // nothing listens there: every call to it is refused
    const setup = writeRouterConfig(dir, upstreamBase, {
      keyRoutes: ['bench', 'fallback'],
      providers: `  dead: { kind: openai, apiKey: "\${BENCH_UPSTREAM_KEY}", baseURL: "http://127.0.0.1:${closed}/v1" }\n`,
      routes: `  fallback:\n    targets:\n      - { provider: dead, model: gpt-4o-mini }\n      - { provider: upstream, model: gpt-4o-mini }\n`,
    });
    const router = await startRouter(setup);
    const base = router.base;
    const chatUrl = new URL(`${base}/v1/chat/completions`);
    const modelsUrl = new URL(`${base}/v1/models`);
    const auth = `Bearer ${setup.clientKey}`;
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
    const json = { 'content-type': 'application/json' };

    const bodies = {
      chat: (model: string) => JSON.stringify({ model, messages, max_tokens: 256 }),
      stream: (model: string) => JSON.stringify({ model, messages, max_tokens: 256, stream: true, stream_options: { include_usage: true } }),
    };
    async function one(kind: Kind): Promise<{ status: number; ok: boolean; why?: string }> {
      let r;
      switch (kind) {
        case 'chat':
        case 'chat-fallback':
          r = await rawRequest(agent, chatUrl, 'POST', { ...json, authorization: auth }, bodies.chat(kind === 'chat' ? 'bench' : 'fallback'));
          if (r.status === 200 && !r.body.includes('"chat.completion"')) return { status: r.status, ok: false, why: `not a chat.completion: ${r.body.slice(0, 120)}` };
          break;
        case 'stream':
        case 'stream-fallback':
          r = await rawRequest(agent, chatUrl, 'POST', { ...json, authorization: auth }, bodies.stream(kind === 'stream' ? 'bench' : 'fallback'));
          if (r.status === 200 && !sseEvents(r.body).done) return { status: r.status, ok: false, why: `stream without [DONE]: …${r.body.slice(-160)}` };
          break;
        case 'bad-json':
          r = await rawRequest(agent, chatUrl, 'POST', { ...json, authorization: auth }, '{"model":"bench","messages":[{"role":"user","content":"hi"}');
          break;
        case 'no-messages':
          r = await rawRequest(agent, chatUrl, 'POST', { ...json, authorization: auth }, JSON.stringify({ model: 'bench' }));
          break;
        case 'bad-key':
          r = await rawRequest(agent, chatUrl, 'POST', { ...json, authorization: 'Bearer sk-bench-not-a-real-key-0123456789abcdef' }, bodies.chat('bench'));
          break;
        case 'unknown-model':
          r = await rawRequest(agent, chatUrl, 'POST', { ...json, authorization: auth }, bodies.chat('no-such-route'));
          break;
        case 'models':
          r = await rawRequest(agent, modelsUrl, 'GET', { authorization: auth });
          if (r.status === 200 && !r.body.includes('"list"')) return { status: r.status, ok: false, why: `not a model list: ${r.body.slice(0, 120)}` };
          break;
      }
      return r.status === EXPECTED[kind] ? { status: r.status, ok: true } : { status: r.status, ok: false, why: r.body.slice(0, 200) };
    }

    const counts = new Map<Kind, Map<string, number>>();
    const bump = (k: Kind, s: string) => {
      const m = counts.get(k) ?? new Map<string, number>();
      counts.set(k, m);
      m.set(s, (m.get(s) ?? 0) + 1);
    };
    const unexpected: Array<{ kind: Kind; status: string; why: string }> = [];
    const samples: Sample[] = [];
    const t0 = performance.now();
    const sample = (requests: number) => {
      const s = { requests, rss: rssMiB(router.pid), elapsedS: (performance.now() - t0) / 1000 };
      samples.push(s);
      console.log(`${String(requests).padStart(9)} requests  RSS ${s.rss.toFixed(1).padStart(7)} MiB  ${s.elapsedS.toFixed(1).padStart(7)} s`);
    };

    console.log(`soak: ${total} mixed requests, ${concurrency} in flight, router pid ${router.pid} (config ${setup.configFile})`);
    sample(0);
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const kind = pick();
        try {
          const r = await one(kind);
          bump(kind, String(r.status));
          if (!r.ok && unexpected.length < 1000) unexpected.push({ kind, status: String(r.status), why: r.why ?? '' });
        } catch (err) {
          bump(kind, 'error');
          if (unexpected.length < 1000) unexpected.push({ kind, status: 'error', why: (err as Error).message });
          if (router.child.exitCode !== null || router.child.signalCode !== null) throw new Error(`the router died; its log:\n${tail(setup.logFile)}`);
        }
        done++;
        if (done % every === 0) sample(done);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (done % every !== 0) sample(done);
    const elapsed = (performance.now() - t0) / 1000;
    // Where the memory is, as the router's own default metrics see it (a hint, not the verdict).
    const metrics = await rawRequest(agent, new URL(`${base}/metrics`), 'GET', { authorization: `Bearer ${setup.adminKey}` }).catch(() => undefined);
    const gauge = (name: string) => {
      const m = metrics?.status === 200 ? new RegExp(`^\\w*${name}(?:\\{[^}]*\\})? ([\\d.e+]+)$`, 'm').exec(metrics.body) : null;
      return m ? `${(Number(m[1]) / 2 ** 20).toFixed(1)} MiB` : '?';
    };
    agent.destroy();

    // ----- summary
    const warm = samples.find((s) => s.requests === warmupAt) ?? samples.find((s) => s.requests >= warmupAt) ?? samples.at(-1)!;
    const after = samples.filter((s) => s.requests >= warm.requests);
    const last = samples.at(-1)!;
    const max = samples.reduce((m, s) => (s.rss > m.rss ? s : m));
    const slope = slopePer100k(after);
    const growth = last.rss - warm.rss;
    const flat = growth <= 0.1 * warm.rss && (slope === undefined || slope <= 5);

    console.log(`\nsoak summary: ${done} requests in ${elapsed.toFixed(1)} s (${(done / elapsed).toFixed(0)} req/s), concurrency ${concurrency}, node ${process.version}`);
    console.log('\nresponses by kind:');
    console.log(`  ${'kind'.padEnd(16)} ${'expected'.padStart(8)}  got`);
    for (const [kind] of MIX) {
      const m = counts.get(kind);
      const got = m ? [...m.entries()].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s}×${n}`).join(', ') : '—';
      console.log(`  ${kind.padEnd(16)} ${String(EXPECTED[kind]).padStart(8)}  ${got}`);
    }
    const fivexx = [...counts.values()].reduce((s, m) => s + [...m.entries()].filter(([st]) => st.startsWith('5')).reduce((a, [, n]) => a + n, 0), 0);
    if (unexpected.length === 0) console.log('  every answer as expected (no 5xx, no unexpected status)');
    else {
      console.log(`  UNEXPECTED: ${unexpected.length}${unexpected.length >= 1000 ? '+' : ''} answers (5xx: ${fivexx}); first few:`);
      for (const u of unexpected.slice(0, 8)) console.log(`    ${u.kind} → ${u.status}: ${u.why.replace(/\s+/g, ' ').slice(0, 200)}`);
    }
    console.log(`\nrouter RSS (MiB): start ${samples[0]!.rss.toFixed(1)}, after warm-up (@${warm.requests}) ${warm.rss.toFixed(1)}, max ${max.rss.toFixed(1)} (@${max.requests}), last ${last.rss.toFixed(1)} (@${last.requests})`);
    console.log(`router's /metrics at the end: heap used ${gauge('nodejs_heap_size_used_bytes')} of ${gauge('nodejs_heap_size_total_bytes')}, external ${gauge('nodejs_external_memory_bytes')}, RSS ${gauge('process_resident_memory_bytes')}`);
    console.log(`growth after warm-up: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MiB (${((growth / warm.rss) * 100).toFixed(1)}%, limit 10%); slope ${slope === undefined ? 'n/a (fewer than 2 samples after warm-up)' : `${slope.toFixed(2)} MiB per 100k requests (limit 5)`} over ${after.length} samples`);
    console.log(`verdict: ${flat ? 'flat' : 'GROWING'}`);
    if (router.child.exitCode !== null || router.child.signalCode !== null) throw new Error(`the router exited during the soak; its log:\n${tail(setup.logFile)}`);
    const failed = unexpected.length > 0 || !flat;
    if (failed) keep = true;
    return failed ? 1 : 0;
  } catch (err) {
    keep = true;
    throw err;
  } finally {
    await stopAll();
    if (keep) console.log(`kept ${dir} (router log: ${path.join(dir, 'router.log')})`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`\nsoak failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
