/**
 * Property-based fuzzing of the real app over HTTP: whatever a client sends (bodies, headers,
 * raw bytes), the router never answers 5xx, always answers OpenAI error JSON when it refuses,
 * never moves a target's breaker, and keeps answering /healthz meanwhile. Bounded here
 * (FUZZ_RUNS, default 120 per property); `npm run fuzz` runs it long. A failure prints the
 * seed and the shrunk counterexample: re-run with FUZZ_SEED=<seed>.
 */
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient } from '../fixtures/chaos-helpers.js';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';
import { bodyText, headerSet, rawRequest } from './hostile-arbitraries.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const params = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }), interruptAfterTimeLimit: RUNS <= 500 ? 60_000 : undefined };
const ADMIN = 'fuzz-admin-key';

function isOpenAIError(v: unknown): boolean {
  const e = (v as { error?: Record<string, unknown> } | null)?.error;
  return !!e && typeof e.message === 'string' && typeof e.type === 'string' && (e.param === null || typeof e.param === 'string') && (e.code === null || typeof e.code === 'string');
}

/** Checks one HTTP answer; returns a problem or undefined. */
async function judge(res: Response): Promise<string | undefined> {
  const text = await res.text();
  if (res.status >= 500) return `status ${res.status}: ${text.slice(0, 300)}`;
  if (res.status >= 400) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return `status ${res.status} with a non-JSON body: ${text.slice(0, 200)}`;
    }
    if (!isOpenAIError(json)) return `status ${res.status} not in OpenAI error shape: ${text.slice(0, 200)}`;
  }
  if (res.status === 200 && (res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    if (!text.trimEnd().endsWith('data: [DONE]')) return `stream without [DONE]: ${text.slice(-200)}`;
    if (text.includes('"error"')) return `stream with an error event: ${text.slice(0, 300)}`;
  }
  return undefined;
}

/** The body of the first HTTP response in `answer` (content-length or chunked). */
function firstBody(answer: string): string {
  const end = answer.indexOf('\r\n\r\n');
  const head = answer.slice(0, end);
  const rest = answer.slice(end + 4);
  const len = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (len) return Buffer.from(rest, 'latin1').subarray(0, Number(len[1])).toString('utf8');
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    let out = '';
    let at = 0;
    for (;;) {
      const nl = rest.indexOf('\r\n', at);
      const size = parseInt(rest.slice(at, nl), 16);
      if (!size) return out;
      out += rest.slice(nl + 2, nl + 2 + size);
      at = nl + 2 + size + 2;
    }
  }
  return rest;
}

describe('fuzz: hostile clients never hurt the router', () => {
  let up: FakeUpstream;
  let h: RouterHarness;
  let healthFailures: string[] = [];
  let healthChecks = 0;
  let stopHealth = false;
  let healthLoop: Promise<void> | undefined;

  beforeAll(async () => {
    up = await startFakeUpstream();
    h = await startRouter(
      `
auth: { adminKeys: [${ADMIN}] }
providers:
  a: { kind: openai, apiKeys: [sk-fuzz-upstream-key], baseURL: "${up.url}/v1", contextLength: { m: 4000 } }
routes:
  chat:
    targets: [{ provider: a, model: m }]
    breaker: { minRequests: 2, errorPercent: 1 }
    timeoutMs: 10000
`,
    );
    // /healthz must keep answering, promptly, while the fuzzer runs.
    healthLoop = (async () => {
      while (!stopHealth) {
        const started = performance.now();
        try {
          const r = await fetch(`${h.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
          if (r.status !== 200) healthFailures.push(`healthz ${r.status}`);
        } catch (err) {
          healthFailures.push(`healthz failed: ${(err as Error).message} after ${Math.round(performance.now() - started)} ms`);
        }
        healthChecks++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
  });

  afterAll(async () => {
    stopHealth = true;
    await healthLoop;
    await h?.close();
    await up?.close();
  });

  it('bodies: never a 5xx, always OpenAI error JSON', async () => {
    await fc.assert(
      fc.asyncProperty(bodyText, async (body) => {
        const res = await fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const problem = await judge(res);
        if (problem) throw new Error(problem);
      }),
      params,
    );
  });

  it('headers: never a 5xx, always OpenAI error JSON', async () => {
    const body = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
    await fc.assert(
      fc.asyncProperty(headerSet, fc.boolean(), async (headers, stream) => {
        let res: Response;
        try {
          res = await fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: stream ? body.replace('{', '{"stream":true,') : body });
        } catch (err) {
          // undici refuses some header sets itself (e.g. "expect"); that is the client, not us.
          if (String((err as Error).cause ?? err).match(/header|expect|invalid/i)) return;
          throw err;
        }
        const problem = await judge(res);
        if (problem) throw new Error(problem);
      }),
      params,
    );
  });

  it('raw HTTP: any answer is HTTP with an OpenAI error JSON body (or a closed socket)', async () => {
    const port = Number(new URL(h.url).port);
    await fc.assert(
      fc.asyncProperty(rawRequest, async (raw) => {
        const answer = await new Promise<string>((resolve) => {
          const sock = net.connect(port, '127.0.0.1');
          let got = '';
          sock.setTimeout(3_000, () => sock.destroy());
          sock.on('data', (d) => {
            got += d.toString('latin1');
          });
          sock.on('error', () => resolve(got));
          sock.on('close', () => resolve(got));
          sock.write(raw, 'latin1', () => sock.end());
        });
        if (answer === '') return;
        // Every answer on the connection (pipelining may give several).
        const head = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
        if (!head) throw new Error(`not HTTP: ${JSON.stringify(answer.slice(0, 100))}`);
        const status = Number(head[1]);
        if (status >= 500) throw new Error(`status ${status}: ${answer.slice(0, 300)}`);
        if (status >= 400) {
          const candidate = firstBody(answer);
          let json: unknown;
          try {
            json = JSON.parse(candidate);
          } catch {
            throw new Error(`status ${status} with a non-JSON body: ${JSON.stringify(answer.slice(0, 300))}`);
          }
          if (!isOpenAIError(json)) throw new Error(`status ${status} not in OpenAI error shape: ${candidate.slice(0, 200)}`);
        }
      }),
      { ...params, numRuns: Math.max(20, Math.floor(RUNS / 2)) },
    );
  });

  it('no client input moved the breaker, and /healthz kept answering', async () => {
    const view = await adminClient(h.url, ADMIN).target('a', 'm');
    expect(view.state).toBe('healthy');
    expect(view.breaker.failures).toBe(0);
    expect(view.lastError).toBeNull();
    expect(healthChecks).toBeGreaterThan(0);
    expect(healthFailures).toEqual([]);
    // The upstream is still served normally.
    const res = await fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(res.status).toBe(200);
  });
});
