/**
 * Node's AbortController against the router's LightController (src/core/light-abort.ts), run by
 * hand, never a test:
 *
 *   npm run bench:abort [-- --count 2000000 --rounds 3]
 *
 * Each side runs in a fresh process, interleaved (node, light, node, light …): `count` times a
 * request-shaped use (a controller, its signal, one abort listener closing over ~0.5 KB of
 * request state, the listener removed), in batches between event-loop turns as requests are.
 * It prints the CPU per controller and the collections seen by a PerformanceObserver: a
 * mark-compact (major) count that grows with `count` means the signals outlive the young
 * generation.
 */
import { spawnSync } from 'node:child_process';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LightController } from '../src/core/light-abort.js';
import { numberOption as num } from './bench/cli-options.js';

const BATCH = 2_000;

interface SideResult {
  side: string;
  nsPerController: number;
  minor: number;
  major: number;
}

async function runSide(side: 'node' | 'light', count: number): Promise<SideResult> {
  let minor = 0;
  let major = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const make = side === 'node' ? () => new AbortController() : () => new LightController();
  const cpu0 = process.cpuUsage();
  let sink = 0;
  for (let done = 0; done < count; done += BATCH) {
    for (let i = 0; i < BATCH; i++) {
      const state = { id: `req-${done + i}`, messages: new Array(48).fill(done + i) };
      const c = make();
      const onAbort = () => (sink += state.messages.length);
      c.signal.addEventListener('abort', onAbort, { once: true });
      if (c.signal.aborted) sink++;
      c.signal.removeEventListener('abort', onAbort);
    }
    // Requests end across event-loop turns, not in one synchronous loop.
    await new Promise<void>((r) => setImmediate(r));
  }
  const cpu = process.cpuUsage(cpu0);
  await new Promise<void>((r) => setTimeout(r, 50));
  obs.disconnect();
  // Read once so that the listeners' work cannot be optimised away.
  if (sink < 0) console.log(sink);
  return { side, nsPerController: ((cpu.user + cpu.system) * 1000) / count, minor, major };
}

const child = process.argv.indexOf('--child');
if (child >= 0) {
  const side = process.argv[child + 1] as 'node' | 'light';
  const count = Number(process.argv[child + 2]);
  process.stdout.write(JSON.stringify(await runSide(side, count)));
} else {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '2000000' }, rounds: { type: 'string', default: '3' } } });
  const count = Math.round(num('count', values.count, BATCH));
  const rounds = Math.round(num('rounds', values.rounds, 1));
  const results: SideResult[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const side of ['node', 'light'] as const) {
      const out = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, '--child', side, String(count)], { encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`${side} side failed: ${out.stderr}`);
      const res = JSON.parse(out.stdout) as SideResult;
      results.push(res);
      console.log(`round ${r + 1} ${side.padEnd(5)} ${res.nsPerController.toFixed(0).padStart(6)} ns/controller, GC: ${res.minor} minor, ${res.major} major`);
    }
  }
  const best = (side: string) => results.filter((x) => x.side === side).reduce((a, b) => (b.nsPerController < a.nsPerController ? b : a));
  const n = best('node');
  const l = best('light');
  console.log(`\n${count} request-shaped controllers per side, best of ${rounds}:`);
  console.log(`| | ns per controller | minor GCs | major GCs |\n|---|---:|---:|---:|`);
  console.log(`| node AbortController | ${n.nsPerController.toFixed(0)} | ${n.minor} | ${n.major} |`);
  console.log(`| LightController | ${l.nsPerController.toFixed(0)} | ${l.minor} | ${l.major} |`);
  console.log(`| light / node | ${(l.nsPerController / n.nsPerController).toFixed(2)}× | | |`);
}
