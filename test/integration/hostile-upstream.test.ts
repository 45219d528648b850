import http from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import OpenAI from 'openai';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adminClient, until } from '../fixtures/chaos-helpers.js';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/**
 * Hostile or broken upstreams never hurt the router: the real app with real adapters in front
 * of fake upstreams that hold every socket, answer 50 MB or never stop, send an endless SSE
 * line, echo the router's key in their error fields or send raw bodies holding it. Each case
 * checks what the app got (status, OpenAI error JSON, code), how long it took, and that no
 * secret appears in any response body, header or log line.
 */

const HOSTILE_KEY = 'sk-hostile-0123456789abcdefABCDEF';
const POOLED_KEY = 'sk-pooled-0123456789abcdefABCDEF';
const SLOW_KEY = 'sk-slowpool-0123456789abcdefABCD';
const STEADY_KEY = 'sk-steady-0123456789abcdefABCDEF';
const DOWN_KEY = 'sk-down-0123456789abcdefABCDEFGH';
const AZ_KEY = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const SECRETS = [HOSTILE_KEY, POOLED_KEY, SLOW_KEY, STEADY_KEY, DOWN_KEY, AZ_KEY];
const MODEL = 'gpt-4o-mini';
const MB = 1024 * 1024;

/** Collects garbage when the VM lets us (node --expose-gc, or turned on here); a no-op otherwise. */
const gc: () => void = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return () => {};
  }
})();

interface Seen {
  status: number;
  headers: string;
  body: string;
}

describe('hostile upstreams', () => {
  let hostile: FakeUpstream;
  let steady: FakeUpstream;
  let downPort: number;
  let h: RouterHarness;
  let url: string;
  const logLines: string[] = [];
  /** Every answer the app got, checked for secrets at the end. */
  const seen: Seen[] = [];

  beforeAll(async () => {
    hostile = await startFakeUpstream();
    steady = await startFakeUpstream();
    // A port nothing listens on.
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    downPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));

    const common = 'retry: { attempts: 1 }\n    breaker: { minRequests: 1000 }\n    idleTimeoutMs: 20000';
    const yaml = `
auth: { keys: [app-key], adminKeys: [admin-key] }
providers:
  hostile:   { kind: openai, apiKeys: [${HOSTILE_KEY}], baseURL: "${hostile.url}/v1", timeoutMs: 10000, maxResponseBytes: 1mb, maxEventBytes: 256kb }
  hostileaz: { kind: azure-openai, endpoint: "${hostile.url}", apiKey: ${AZ_KEY}, timeoutMs: 10000, maxResponseBytes: 1mb, maxEventBytes: 256kb }
  pooled:    { kind: openai, apiKeys: [${POOLED_KEY}], baseURL: "${hostile.url}/v1", timeoutMs: 1000, pool: { maxSockets: 2 } }
  slowpool:  { kind: openai, apiKeys: [${SLOW_KEY}], baseURL: "${hostile.url}/v1", timeoutMs: 20000, pool: { maxSockets: 2 } }
  steady:    { kind: openai, apiKeys: [${STEADY_KEY}], baseURL: "${steady.url}/v1", timeoutMs: 5000 }
  down:      { kind: openai, apiKeys: [${DOWN_KEY}], baseURL: "http://127.0.0.1:${downPort}/v1", timeoutMs: 2000 }
routes:
  chat:
    targets: [{ provider: hostile, model: ${MODEL} }, { provider: steady, model: ${MODEL} }]
    ${common}
  solo:
    targets: [{ provider: hostile, model: ${MODEL} }]
    ${common}
    maxStreamMs: 1500
  az-solo:
    targets: [{ provider: hostileaz, model: ${MODEL} }]
    ${common}
  pooled-solo:
    targets: [{ provider: pooled, model: ${MODEL} }]
    ${common}
  pooled-chat:
    targets: [{ provider: pooled, model: ${MODEL} }, { provider: steady, model: ${MODEL} }]
    ${common}
  slow-solo:
    targets: [{ provider: slowpool, model: ${MODEL} }]
    ${common}
  slow-deadline:
    targets: [{ provider: slowpool, model: ${MODEL} }, { provider: steady, model: ${MODEL} }]
    ${common}
    timeoutMs: 800
  down-solo:
    targets: [{ provider: down, model: ${MODEL} }]
    retry: { attempts: 1 }
    breaker: { minRequests: 2, errorPercent: 50 }
`;
    // The router's logs, line by line: they must never hold a secret either.
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
    h = await startRouter(yaml, { logger });
    url = h.url;
  });

  afterAll(async () => {
    await h?.close();
    await hostile?.close();
    await steady?.close();
  });

  beforeEach(() => {
    hostile.reset();
    steady.reset();
  });

  const messages = [{ role: 'user', content: 'ping' }];

  /** POST /v1/chat/completions, read whole; the answer is kept for the secret check. */
  async function chat(route: string, extra: Record<string, unknown> = {}): Promise<{ status: number; headers: Headers; text: string; json: any; ms: number }> {
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer app-key', 'content-type': 'application/json' },
      body: JSON.stringify({ model: route, messages, ...extra }),
    });
    const text = await res.text();
    const ms = performance.now() - t0;
    seen.push({ status: res.status, headers: JSON.stringify([...res.headers]), body: text });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json, ms };
  }

  /** The SSE events of a streamed answer (data payloads, `[DONE]` included). */
  const events = (text: string) => text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));

  /** Opens a stream and reads until its first event: the connection is then held by the stalled upstream. */
  async function holdStream(route: string): Promise<AbortController> {
    const ctl = new AbortController();
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer app-key', 'content-type': 'application/json' },
      body: JSON.stringify({ model: route, messages, stream: true }),
      signal: ctl.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    return ctl;
  }

  describe('a deadline covers queueing for a socket', () => {
    it('with both sockets of a pool held by streams, the provider timeout fires and the route falls back; the route deadline fires too', async () => {
      hostile.scriptAlways(() => ({ stallAfterChunks: 2, stallMs: 60_000 }));
      const held = [await holdStream('pooled-solo'), await holdStream('pooled-solo'), await holdStream('slow-solo'), await holdStream('slow-solo')];
      try {
        expect(hostile.chatRequests()).toHaveLength(4);

        // pooled: timeoutMs 1000, both sockets held → the call times out while queued; steady answers.
        const r = await chat('pooled-chat');
        expect(r.status).toBe(200);
        expect(r.headers.get('x-router-provider')).toBe('steady');
        expect(r.headers.get('x-router-fallback')).toBe(`pooled/${MODEL}:timeout`);
        expect(r.ms).toBeGreaterThanOrEqual(950);
        expect(r.ms).toBeLessThan(4_000);

        const s = await chat('pooled-chat', { stream: true });
        expect(s.status).toBe(200);
        expect(s.headers.get('x-router-provider')).toBe('steady');
        expect(events(s.text).at(-1)).toBe('[DONE]');
        expect(s.ms).toBeLessThan(4_000);

        // slowpool: provider timeout 20 s, route deadline 800 ms → a 504 at the route deadline.
        const d = await chat('slow-deadline');
        expect(d.status).toBe(504);
        expect(d.json.error).toMatchObject({ type: 'timeout_error', code: 'upstream_timeout' });
        expect(d.ms).toBeGreaterThanOrEqual(750);
        expect(d.ms).toBeLessThan(3_000);

        // None of the queued calls reached the upstream.
        expect(hostile.chatRequests()).toHaveLength(4);
      } finally {
        for (const c of held) c.abort();
        hostile.scriptAlways(undefined);
      }
      await until('the held upstream calls to close', () => hostile.chatRequests().every((q) => q.clientClosed), 5_000);
      // Freed sockets serve again.
      expect((await chat('pooled-solo')).status).toBe(200);
      expect((await chat('slow-solo')).status).toBe(200);
    });
  });

  describe('upstream answers too large to read', () => {
    it.each([
      ['a 50 MB answer', { hugeBody: { bytes: 50_000_000 } }],
      ['a 50 MB answer declared up front', { hugeBody: { bytes: 50_000_000, contentLength: true } }],
      ['a JSON answer that never ends', { endlessBody: true }],
    ] as const)('%s: a prompt 502 upstream_response_too_large, or a fallback', async (_n, behaviour) => {
      hostile.script(behaviour);
      const r = await chat('solo');
      expect(r.status).toBe(502);
      expect(r.json).toEqual({ error: { message: 'provider hostile answer too large', type: 'upstream_error', param: null, code: 'upstream_response_too_large' } });
      expect(r.ms).toBeLessThan(3_000); // the provider timeout is 10 s: the cap ended it

      hostile.script(behaviour);
      const f = await chat('chat');
      expect(f.status).toBe(200);
      expect(f.headers.get('x-router-fallback')).toBe(`hostile/${MODEL}:server`);
    });

    it('a status outside HTTP (999): a 502 naming the provider, or a fallback; the router keeps serving', async () => {
      hostile.script({ status: 999 });
      const r = await chat('solo');
      expect(r.status).toBe(502);
      expect(r.json.error).toEqual({ message: 'provider hostile failed', type: 'upstream_error', param: null, code: 'upstream_error' });
      hostile.script({ status: 999 });
      expect((await chat('chat')).headers.get('x-router-fallback')).toBe(`hostile/${MODEL}:server`);
      expect((await chat('solo')).status).toBe(200);
    });

    it('4 × 50 MB answers in parallel leave memory bounded', async () => {
      gc();
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      try {
        for (let round = 0; round < 2; round++) {
          hostile.script(...Array.from({ length: 4 }, () => ({ hugeBody: { bytes: 50_000_000 } })));
          const all = await Promise.all(Array.from({ length: 4 }, () => chat('solo')));
          for (const r of all) expect(r.json?.error?.code).toBe('upstream_response_too_large');
        }
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      // 400 MB were offered; the router read at most 1 MiB of each.
      expect((peak - before) / MB).toBeLessThan(100);
    });

    it('an endless SSE line: a 502 before the first byte, or a fallback; mid-stream, an error event', async () => {
      hostile.script({ endlessLineAfterChunks: 0 });
      const r = await chat('solo', { stream: true });
      expect(r.status).toBe(502);
      expect(r.json.error).toMatchObject({ message: 'provider hostile answer too large', code: 'upstream_response_too_large' });
      expect(r.ms).toBeLessThan(3_000);

      hostile.script({ endlessLineAfterChunks: 0 });
      const f = await chat('chat', { stream: true });
      expect(f.status).toBe(200);
      expect(f.headers.get('x-router-fallback')).toBe(`hostile/${MODEL}:server`);

      hostile.script({ endlessLineAfterChunks: 3 });
      const m = await chat('solo', { stream: true });
      expect(m.status).toBe(200);
      const ev = events(m.text);
      expect(ev.at(-1)).toBe('[DONE]');
      expect(JSON.parse(ev.at(-2)!).error).toMatchObject({ type: 'upstream_error', message: expect.stringContaining('provider hostile answer too large') });
      expect(m.ms).toBeLessThan(3_000);
      await until('the upstream call to close', () => hostile.chatRequests().every((q) => q.clientClosed), 3_000);
    });

    it("a stream that never ends is cut at the route's maxStreamMs", async () => {
      hostile.script({ streamForever: { everyMs: 20 } });
      const r = await chat('solo', { stream: true });
      expect(r.status).toBe(200);
      const ev = events(r.text);
      expect(ev.at(-1)).toBe('[DONE]');
      expect(JSON.parse(ev.at(-2)!).error.code).toBe('stream_too_long');
      expect(r.ms).toBeGreaterThanOrEqual(1_400);
      expect(r.ms).toBeLessThan(4_000);
      await until('the upstream call to close', () => hostile.chatRequests()[0]?.clientClosed, 3_000);
    });
  });

  describe('secrets in upstream errors never reach the app', () => {
    it.each(['param', 'code', 'message'] as const)('a 400 echoing the key in %s (OpenAI and Azure): a 400 without it', async (field) => {
      for (const [route, key] of [['solo', HOSTILE_KEY], ['az-solo', AZ_KEY]] as const) {
        hostile.script({ echoKeyIn: field });
        const r = await chat(route);
        expect(r.status).toBe(400);
        expect(r.json.error.type).toBe('invalid_request_error');
        expect(r.text).not.toContain(key);
        expect(r.json.error.param).toBe(field === 'param' ? null : 'temperature');
        expect(r.json.error.code).toBe(field === 'code' ? null : 'invalid_value');
        expect(hostile.chatRequests().at(-1)!.behaviour.echoKeyIn).toBe(field);
      }
    });

    it('the official SDK sees a BadRequestError with safe fields only', async () => {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'app-key', maxRetries: 0 });
      hostile.script({ echoKeyIn: 'param' });
      const err = await client.chat.completions.create({ model: 'solo', messages: [{ role: 'user', content: 'ping' }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBeNull();
      expect(JSON.stringify(err)).not.toContain(HOSTILE_KEY);
    });

    it.each([
      ['a 502 HTML page', { status: 502, raw: '<html><body>bad gateway, key {{key}}</body></html>', rawContentType: 'text/html' }, 502],
      ['a 400 text body', { status: 400, raw: 'invalid key {{key}}' }, 400],
      ['a 200 labelled JSON that is not', { raw: '{{key}} is not JSON', rawContentType: 'application/json' }, 502],
      ['a 500 JSON error naming the key', { status: 500, body: { error: { message: 'key {{key}} broke', code: '{{key}}', param: '{{key}}' } } }, 502],
    ] as const)('%s holding the key: no byte of it in the answer', async (_n, behaviour, status) => {
      for (const [route, key] of [['solo', HOSTILE_KEY], ['az-solo', AZ_KEY]] as const) {
        const b = 'body' in behaviour ? { ...behaviour, body: JSON.parse(JSON.stringify(behaviour.body).split('{{key}}').join(key)) } : behaviour;
        hostile.script(b);
        const r = await chat(route);
        expect(r.status).toBe(status);
        expect(r.text).not.toContain(key);
        expect(r.text).not.toContain(key.slice(0, 12));
        expect(r.text).not.toMatch(/html|invalid key|is not JSON|broke/);
      }
    });
  });

  describe('clients get generic errors, operators get the detail', () => {
    it('an unreachable provider: "provider down unreachable" to the app; ECONNREFUSED in the log and in /admin/targets', async () => {
      for (let i = 0; i < 2; i++) {
        const r = await chat('down-solo');
        expect(r.status).toBe(502);
        expect(r.json).toEqual({ error: { message: 'provider down unreachable', type: 'upstream_error', param: null, code: 'upstream_unreachable' } });
        expect(r.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|connect/);
      }
      const admin = adminClient(url, 'admin-key');
      const view = await until('the breaker of down to open', async () => {
        const t = await admin.target('down', MODEL);
        return t.state === 'open' && t;
      });
      expect(view.lastError).toMatchObject({ source: 'live', kind: 'network', message: expect.stringContaining('ECONNREFUSED') });
      expect(view.lastError!.message).toContain(`127.0.0.1:${downPort}`);
      const failed = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request failed' && String(l.detail).includes('ECONNREFUSED'));
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(failed[0]!.detail).toMatch(/^down: cannot reach upstream: .*ECONNREFUSED/);
    });

    it('a too-large answer: the operator log says which limit', async () => {
      hostile.script({ endlessBody: true });
      await chat('solo');
      const line = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request failed').at(-1);
      expect(line?.detail).toContain('larger than maxResponseBytes (1048576 bytes)');
    });
  });

  it('no secret in any answer body, header or log line', () => {
    expect(seen.length).toBeGreaterThan(20);
    expect(logLines.length).toBeGreaterThan(20);
    const everything = [...seen.map((s) => `${s.status} ${s.headers} ${s.body}`), ...logLines];
    for (const secret of SECRETS) {
      for (const text of everything) expect(text).not.toContain(secret);
      // Nor a recognisable piece of one.
      for (const text of everything) expect(text).not.toContain(secret.slice(0, 14));
    }
  });
});
