import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createUpstreamHttp, type EventAnswer, type UpstreamHttp } from '../../../providers/shared/upstream-http.js';
import { ResponseTooLargeError, UpstreamProtocolError } from '../../../providers/shared/node-fetch.js';
import type { SseEvent } from '../../../providers/shared/sse-parser.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
const servers: http.Server[] = [];
const pools: UpstreamHttp[] = [];

async function serve(handler: Handler): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

function pool(base: string, opts: Partial<Parameters<typeof createUpstreamHttp>[1]> = {}): UpstreamHttp {
  const p = createUpstreamHttp(base, { maxSockets: 4, idleSocketMs: 5_000, maxResponseBytes: 1024 ** 2, maxEventBytes: 64 * 1024, ...opts });
  pools.push(p);
  return p;
}

const call = (signal = new AbortController().signal) => ({ path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: '{}', signal });

async function drain(answer: EventAnswer): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for (;;) {
    const ev = answer.events.take();
    if (ev) {
      out.push(ev);
      continue;
    }
    if (answer.events.ended) {
      if (answer.events.error) throw answer.events.error;
      return out;
    }
    await answer.events.wait();
  }
}

afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('upstream-http (undici pool, chat hot path)', () => {
  it('posts the body and headers and reads a whole answer', async () => {
    let seen: { body: string; headers: http.IncomingHttpHeaders } | undefined;
    const base = await serve((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen = { body, headers: req.headers };
        res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'r1' }).end('{"ok":true}');
      });
    });
    const a = await pool(base).postWhole({ ...call(), headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: '{"x":1}' });
    expect(a).toMatchObject({ kind: 'whole', status: 200 });
    expect(a.headers['x-request-id']).toBe('r1');
    expect(a.body.toString()).toBe('{"ok":true}');
    expect(seen).toMatchObject({ body: '{"x":1}', headers: { authorization: 'Bearer k' } });
  });

  it('reads an error status whole, even on a stream call', async () => {
    const base = await serve((_req, res) => res.writeHead(429, { 'content-type': 'text/event-stream', 'retry-after': '2' }).end('{"error":{"message":"slow"}}'));
    const a = await pool(base).postStream(call());
    expect(a).toMatchObject({ kind: 'whole', status: 429 });
    expect(a.kind === 'whole' && a.body.toString()).toContain('slow');
  });

  it('reads a 2xx event stream as events as they arrive', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"n":1}\n\n');
      setTimeout(() => res.end('data: {"n":2}\n\ndata: [DONE]\n\n'), 20);
    });
    const a = (await pool(base).postStream(call())) as EventAnswer;
    expect(a.kind).toBe('events');
    expect((await drain(a)).map((e) => e.data)).toEqual(['{"n":1}', '{"n":2}', '[DONE]']);
  });

  it('caps a whole answer by its declared length and by the bytes read', async () => {
    const big = 'x'.repeat(5000);
    const declared = await serve((_req, res) => res.writeHead(200, { 'content-length': String(big.length) }).end(big));
    await expect(pool(declared, { maxResponseBytes: 1000 }).postWhole(call())).rejects.toBeInstanceOf(ResponseTooLargeError);
    const chunked = await serve((_req, res) => {
      res.writeHead(200);
      res.write(big);
      res.end(big);
    });
    await expect(pool(chunked, { maxResponseBytes: 1000 }).postWhole(call())).rejects.toBeInstanceOf(ResponseTooLargeError);
  });

  it('ends a stream whose line crosses maxEventBytes with ResponseTooLargeError, and closes the connection', async () => {
    let closed = false;
    const base = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"n":1}\n\n');
      const t = setInterval(() => res.write('z'.repeat(4096)), 5);
      req.socket.on('close', () => {
        closed = true;
        clearInterval(t);
      });
    });
    const a = (await pool(base, { maxEventBytes: 16 * 1024 }).postStream(call())) as EventAnswer;
    await expect(drain(a)).rejects.toBeInstanceOf(ResponseTooLargeError);
    await expect.poll(() => closed, { timeout: 2000 }).toBe(true);
  });

  it('refuses a status outside 200–599 as a protocol error', async () => {
    const base = await serve((req, res) => {
      req.socket.end('HTTP/1.1 700 Weird\r\ncontent-length: 0\r\n\r\n');
      void res;
    });
    await expect(pool(base).postWhole(call())).rejects.toBeInstanceOf(UpstreamProtocolError);
  });

  it('reports a refused connection as a transport error with the socket error as cause', async () => {
    const err = await pool('http://127.0.0.1:9/v1').postWhole(call()).catch((e: Error) => e);
    expect((err as Error).name).toBe('UpstreamTransportError');
    expect(((err as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('rejects at once on abort, also while queued for a connection, and the queued call is never sent', async () => {
    let received = 0;
    const held: http.ServerResponse[] = [];
    const base = await serve((_req, res) => {
      received++;
      held.push(res);
    });
    const p = pool(base, { maxSockets: 1 });
    const first = p.postWhole(call()).catch((e: Error) => e);
    await expect.poll(() => received).toBe(1);
    const ctl = new AbortController();
    const queued = p.postWhole(call(ctl.signal)).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 30));
    expect(p.stats().queued + p.stats().pending).toBeGreaterThanOrEqual(1);
    const t0 = performance.now();
    ctl.abort();
    expect(((await queued) as Error).name).toBe('AbortError');
    expect(performance.now() - t0).toBeLessThan(100);
    // The first answer frees the connection: the aborted call is dropped, not written.
    held[0]!.writeHead(200).end('{}');
    expect(await first).toMatchObject({ status: 200 });
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toBe(1);
  });

  it('aborting a stream in flight ends its events with AbortError and closes the upstream', async () => {
    let closed = false;
    const base = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"n":1}\n\n');
      req.socket.on('close', () => (closed = true));
    });
    const ctl = new AbortController();
    const a = (await pool(base).postStream(call(ctl.signal))) as EventAnswer;
    ctl.abort();
    await expect(drain(a)).rejects.toMatchObject({ name: 'AbortError' });
    await expect.poll(() => closed, { timeout: 2000 }).toBe(true);
  });

  it('pauses a fast upstream while the reader lags (bounded queue) and reads it all once drained', async () => {
    const n = 5000;
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const more = () => {
        while (i < n) {
          if (!res.write(`data: {"i":${i++},"pad":"${'p'.repeat(200)}"}\n\n`)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    const a = (await pool(base).postStream(call())) as EventAnswer;
    await new Promise((r) => setTimeout(r, 200));
    // Not all of it was read into memory while nobody took events.
    const waiting = (a.events as unknown as { items: unknown[] }).items.length;
    expect(waiting).toBeLessThan(n);
    expect(await drain(a)).toHaveLength(n);
  });

  it('close() fails calls in flight and every later call', async () => {
    const base = await serve(() => {});
    const p = pool(base);
    const pending = p.postWhole(call()).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 30));
    p.close();
    expect(((await pending) as Error).name).toBe('UpstreamTransportError');
    await expect(p.postWhole(call())).rejects.toMatchObject({ name: 'UpstreamTransportError' });
  });

  it('talks TLS to an https origin and verifies its certificate (a self-signed one is refused)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'upstream-tls-'));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    let reached = 0;
    const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      reached++;
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const err = await pool(`https://localhost:${(server.address() as AddressInfo).port}/v1`).postWhole(call()).catch((e: Error) => e);
      expect((err as Error).name).toBe('UpstreamTransportError');
      expect(String(((err as Error).cause as Error).message)).toMatch(/self[- ]signed/i);
      expect(reached).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('calls abandoned while waiting for a connection leave the queue: no reconnect each, and the live call behind them goes at once', async () => {
    let connections = 0;
    const held: http.ServerResponse[] = [];
    const base = await serve((req, res) => {
      req.resume();
      if (held.length === 0) held.push(res);
      else req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    servers.at(-1)!.on('connection', () => connections++);
    const p = pool(base, { maxSockets: 1 });
    const first = p.postWhole(call()).catch((e: Error) => e);
    await expect.poll(() => held.length).toBe(1);
    const abandoned = Array.from({ length: 200 }, () => {
      const ctl = new AbortController();
      const r = p.postWhole(call(ctl.signal)).catch((e: Error) => e);
      return { ctl, r };
    });
    expect(p.stats().queued).toBe(200);
    for (const a of abandoned) a.ctl.abort();
    for (const a of abandoned) expect(((await a.r) as Error).name).toBe('AbortError');
    expect(p.stats().queued).toBe(0);
    const live = p.postWhole(call());
    held[0]!.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    expect(await first).toMatchObject({ status: 200 });
    const t0 = performance.now();
    expect(await live).toMatchObject({ status: 200 });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(connections).toBe(1);
  });
});
