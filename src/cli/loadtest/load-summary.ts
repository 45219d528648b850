/** What a load run measured, as numbers (`--json`) and as the lines an operator reads. */
import { formatMs } from '../format.js';
import { formatFields } from '../table.js';
import type { LoadRun } from './load-runner.js';
import { p50p99 } from './percentile.js';

export interface LoadSummary {
  url: string;
  model: string;
  concurrency: number;
  requests: number;
  streamed: number;
  ok: number;
  failed: number;
  /** Calls finished per second of the run (ok or not). */
  rps: number;
  wallMs: number;
  stoppedBy: LoadRun['stoppedBy'];
  /** Whole-answer latency of the successful calls. */
  latencyMs: { p50: number | null; p99: number | null };
  /** Time to the first token of the successful streams. */
  ttftMs: { p50: number | null; p99: number | null };
  /** Failed calls by outcome (HTTP status, "timeout", a socket error code…), most frequent first. */
  errors: Record<string, number>;
  /** Every failed call had no HTTP answer at all: the URL cannot be reached. */
  unreachable: boolean;
}

const round = (n: number | null) => (n === null ? null : Math.round(n * 100) / 100);

export function summarize(run: LoadRun, about: { url: string; model: string; concurrency: number }): LoadSummary {
  const ok = run.results.filter((r) => r.outcome === 'ok');
  const counts = new Map<string, number>();
  for (const r of run.results) if (r.outcome !== 'ok') counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  const failed = run.results.length - ok.length;
  const lat = p50p99(ok.map((r) => r.latencyMs));
  const ttft = p50p99(ok.flatMap((r) => (r.stream && r.ttftMs !== undefined ? [r.ttftMs] : [])));
  return {
    ...about,
    requests: run.results.length,
    streamed: run.results.filter((r) => r.stream).length,
    ok: ok.length,
    failed,
    rps: run.wallMs > 0 ? Math.round((run.results.length / (run.wallMs / 1000)) * 10) / 10 : 0,
    wallMs: Math.round(run.wallMs),
    stoppedBy: run.stoppedBy,
    latencyMs: { p50: round(lat.p50), p99: round(lat.p99) },
    ttftMs: { p50: round(ttft.p50), p99: round(ttft.p99) },
    errors: Object.fromEntries([...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    unreachable: failed > 0 && ok.length === 0 && run.results.every((r) => r.unreachable),
  };
}

export function describeSummary(s: LoadSummary): string[] {
  const errors = Object.entries(s.errors).map(([k, n]) => `${k} ×${n}`).join(', ');
  const ended = s.stoppedBy === 'requests' ? '' : s.stoppedBy === 'duration' ? ', ended by --duration' : ', interrupted';
  return formatFields([
    ['target', `${s.url} (model ${s.model})`],
    ['requests', `${s.requests} (${s.streamed} streamed) in ${(s.wallMs / 1000).toFixed(2)}s at concurrency ${s.concurrency}${ended}`],
    ['throughput', `${s.rps} req/s`],
    ['latency', `p50 ${formatMs(s.latencyMs.p50)}  p99 ${formatMs(s.latencyMs.p99)}  (successful requests)`],
    ['ttft', `p50 ${formatMs(s.ttftMs.p50)}  p99 ${formatMs(s.ttftMs.p99)}  (successful streams)`],
    ['errors', s.failed ? `${s.failed}: ${errors}` : '0'],
  ]);
}
