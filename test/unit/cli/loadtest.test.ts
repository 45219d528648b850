import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStreamed } from '../../../src/cli/commands/loadtest.js';
import { agentFor, callChat, chatCompletionsUrl, type CallResult } from '../../../src/cli/loadtest/chat-call.js';
import { runLoad } from '../../../src/cli/loadtest/load-runner.js';
import { describeSummary, summarize } from '../../../src/cli/loadtest/load-summary.js';
import { percentile } from '../../../src/cli/loadtest/percentile.js';
import { createProgress, renderBar } from '../../../src/cli/loadtest/progress.js';

const ok = (latencyMs: number, stream = false, ttftMs?: number): CallResult => ({ stream, outcome: 'ok', unreachable: false, latencyMs, ...(ttftMs !== undefined ? { ttftMs } : {}) });

describe('loadtest arithmetic', () => {
  it('nearest-rank percentiles', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });

  it('streams exactly the asked share of calls, spread evenly', () => {
    const count = (n: number, r: number) => Array.from({ length: n }, (_, i) => isStreamed(i, r)).filter(Boolean).length;
    expect(count(20, 0.5)).toBe(10);
    expect(count(200, 0.25)).toBe(50);
    expect(count(10, 0)).toBe(0);
    expect(count(10, 1)).toBe(10);
    expect(Array.from({ length: 4 }, (_, i) => isStreamed(i, 0.5))).toEqual([false, true, false, true]);
  });

  it('finds the chat completions URL from a base, a /v1 or the full URL', () => {
    expect(chatCompletionsUrl('http://127.0.0.1:8080').href).toBe('http://127.0.0.1:8080/v1/chat/completions');
    expect(chatCompletionsUrl('https://api.openai.com/v1/').href).toBe('https://api.openai.com/v1/chat/completions');
    expect(chatCompletionsUrl('http://h/openai/v1/chat/completions').href).toBe('http://h/openai/v1/chat/completions');
  });

  it('summarizes: percentiles over successes, TTFT over streams, errors by outcome, unreachable only when nothing answered', () => {
    const results = [ok(10), ok(20, true, 5), ok(30, true, 7), { stream: false, outcome: '429', unreachable: false, latencyMs: 1 }, { stream: true, outcome: '429', unreachable: false, latencyMs: 1 }, { stream: false, outcome: 'timeout', unreachable: false, latencyMs: 60_000 }];
    const s = summarize({ results, wallMs: 2000, stoppedBy: 'requests' }, { url: 'http://x/v1/chat/completions', model: 'chat', concurrency: 2 });
    expect(s).toMatchObject({ requests: 6, streamed: 3, ok: 3, failed: 3, rps: 3, latencyMs: { p50: 20, p99: 30 }, ttftMs: { p50: 5, p99: 7 }, errors: { '429': 2, timeout: 1 }, unreachable: false });
    expect(Object.keys(s.errors)).toEqual(['429', 'timeout']);
    expect(describeSummary(s).join('\n')).toMatch(/errors: +3: 429 ×2, timeout ×1/);
    const down = summarize({ results: [{ stream: false, outcome: 'ECONNREFUSED', unreachable: true, latencyMs: 1 }], wallMs: 5, stoppedBy: 'requests' }, { url: 'u', model: 'm', concurrency: 1 });
    expect(down.unreachable).toBe(true);
  });
});

describe('the load runner', () => {
  it('keeps at most C calls in flight and makes exactly N', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    const run = await runLoad({ requests: 25, concurrency: 4 }, async (i) => {
      seen.push(i);
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return ok(2);
    });
    expect(run.results).toHaveLength(25);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(most).toBe(4);
    expect(run.stoppedBy).toBe('requests');
  });

  it('starts no call after the duration, and stops on abort', async () => {
    let t = 0;
    const progress: number[] = [];
    const run = await runLoad({ requests: 1000, concurrency: 2, durationMs: 100 }, async () => {
      t += 10;
      return ok(10);
    }, { now: () => t, onProgress: (p) => progress.push(p.fraction) });
    expect(run.stoppedBy).toBe('duration');
    expect(run.results.length).toBeGreaterThanOrEqual(10);
    expect(run.results.length).toBeLessThanOrEqual(11);
    // Progress by time when the duration ends the run before the count does.
    expect(progress.at(-1)).toBe(1);
    const ac = new AbortController();
    const stopped = await runLoad({ requests: 1000, concurrency: 1 }, async (i) => {
      if (i === 4) ac.abort();
      return ok(1);
    }, { signal: ac.signal });
    expect(stopped).toMatchObject({ stoppedBy: 'interrupted' });
    expect(stopped.results).toHaveLength(5);
  });
});

describe('progress', () => {
  it('draws a bar on a terminal and a plain line every 10 % elsewhere', () => {
    expect(renderBar(0.5, 10)).toBe('[#####-----]');
    expect(renderBar(2, 4)).toBe('[####]');
    let text = '';
    let clock = 0;
    const plain = createProgress({ write: (s: string) => (text += s) }, { total: 20, plain: true, now: () => clock });
    for (let done = 1; done <= 20; done++) {
      clock = done * 600;
      plain.update({ done, failed: 0, elapsedMs: clock, fraction: done / 20 });
    }
    plain.finish();
    const lines = text.trim().split('\n');
    // 10 % steps, at most one a second (a step every 1.2 s here; none at 100 %: the summary follows).
    expect(lines).toEqual(['loadtest: 10% (2/20), 0 error(s), 1.7 req/s', ...[4, 6, 8, 10, 12, 14, 16, 18].map((d) => `loadtest: ${d * 5}% (${d}/20), 0 error(s), 1.7 req/s`)]);
    let fast = '';
    const quick = createProgress({ write: (s: string) => (fast += s) }, { total: 20, plain: true, now: () => 0 });
    for (let done = 1; done <= 20; done++) quick.update({ done, failed: 0, elapsedMs: 1, fraction: done / 20 });
    expect(fast).toBe('');
    expect(text).not.toContain('\r');
    let tty = '';
    let t = 0;
    const bar = createProgress({ write: (s: string) => (tty += s), isTTY: true, columns: 80 }, { total: 4, plain: false, now: () => (t += 200) });
    bar.update({ done: 2, failed: 1, elapsedMs: 500, fraction: 0.5 });
    bar.finish();
    expect(tty).toMatch(/^\r\[#{15}-{15}\] 2\/4 50% {2}1 error\(s\) {2}4\.0 req\/s\x1b\[K\r\x1b\[K$/);
  });
});

describe('one chat call over HTTP', () => {
  let server: http.Server;
  let base: string;
  const agent = agentFor(new URL('http://127.0.0.1'), 4);
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        const body = JSON.parse(raw) as { stream?: boolean; model: string };
        if (body.model === 'limited') return void res.writeHead(429, { 'content-type': 'application/json' }).end('{"error":{"message":"slow down"}}');
        if (!body.stream) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [{ message: { content: 'hi' } }] }));
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n');
        setTimeout(() => {
          res.write('data: {"choices":[{"delta":{"content":"hi"}}]}\n\n');
          if (body.model === 'cut') return void res.end();
          if (body.model === 'broken') res.write('data: {"error":{"message":"upstream failed"}}\n\n');
          res.end('data: [DONE]\n\n');
        }, 30);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    agent.destroy();
    await new Promise((r) => server.close(r));
  });
  const call = (model: string, stream: boolean, url = base) =>
    callChat({ url: chatCompletionsUrl(url), agent, headers: { 'content-type': 'application/json' }, timeoutMs: 5_000 }, JSON.stringify({ model, stream }), stream);

  it('times a stream to its first content token, not its role chunk', async () => {
    const r = await call('m', true);
    expect(r.outcome).toBe('ok');
    expect(r.ttftMs).toBeGreaterThanOrEqual(25);
    expect(r.latencyMs).toBeGreaterThanOrEqual(r.ttftMs!);
    expect((await call('m', false)).outcome).toBe('ok');
  });

  it('names each failure: status, error event, a stream without [DONE], a refused connection', async () => {
    expect(await call('limited', false)).toMatchObject({ outcome: '429', unreachable: false });
    expect((await call('broken', true)).outcome).toBe('stream_error');
    expect((await call('cut', true)).outcome).toBe('stream_cut');
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect(await call('m', false, `http://127.0.0.1:${port}`)).toMatchObject({ outcome: 'ECONNREFUSED', unreachable: true });
  });
});
