import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamPool, READ_WHOLE_INIT, ResponseTooLargeError, UpstreamProtocolError, type UpstreamPool } from '../../../providers/shared/node-fetch.js';

/**
 * The provider's connection pool and fetch (providers/shared/node-fetch.ts) against a real
 * local server: aborts while queued for a socket, size caps, close.
 */
type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let handler: Handler = (_req, res) => res.end('{}');
let server: http.Server;
let url: string;
/** Responses the server is holding open; released by `release()`. */
const held: http.ServerResponse[] = [];

const hold: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write('data: {}\n\n');
  held.push(res);
};
const release = () => {
  for (const r of held.splice(0)) r.end();
};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
});
afterAll(async () => {
  release();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const pools: UpstreamPool[] = [];
function pool(opts: Parameters<typeof createUpstreamPool>[0] = {}): UpstreamPool {
  const p = createUpstreamPool(opts);
  pools.push(p);
  return p;
}
afterEach(() => {
  release();
  for (const p of pools.splice(0)) p.close();
  handler = (_req, res) => res.end('{}');
});

const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as Error);
const waitFor = async (what: string, fn: () => boolean, ms = 2_000) => {
  const end = performance.now() + ms;
  while (!fn()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('upstream pool: a deadline covers queueing for a socket', () => {
  it('an abort rejects a request queued behind held sockets at once, and takes it out of the queue', async () => {
    handler = hold;
    const p = pool({ maxSockets: 2 });
    const a = await p.fetch(url, { method: 'POST', body: '{}' });
    const b = await p.fetch(url, { method: 'POST', body: '{}' });
    await waitFor('two held sockets', () => held.length === 2);

    const ctl = new AbortController();
    const queued = p.fetch(url, { method: 'POST', body: '{}', signal: ctl.signal });
    await waitFor('the third request to queue', () => p.stats().queued === 1);
    expect(p.stats()).toMatchObject({ active: 2, queued: 1, inFlight: 3 });

    const t0 = performance.now();
    ctl.abort();
    const err = await rejection(queued);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(err?.name).toBe('AbortError');
    // Node's agent keeps a destroyed request queued until a socket frees; the pool removes it.
    expect(p.stats()).toMatchObject({ active: 2, queued: 0, inFlight: 2 });

    // The queue still works: once a socket frees, the next request gets it.
    handler = (_req, res) => res.end('{"ok":true}');
    const next = p.fetch(url, { method: 'POST', body: '{}' });
    await waitFor('the next request to queue', () => p.stats().queued === 1);
    release();
    await Promise.all([a.text(), b.text()]);
    expect(await (await next).json()).toEqual({ ok: true });
    expect(p.stats()).toMatchObject({ queued: 0, inFlight: 0 });
  });

  it('an already-aborted signal rejects without a request', async () => {
    const p = pool();
    const ctl = new AbortController();
    ctl.abort();
    expect((await rejection(p.fetch(url, { signal: ctl.signal })))?.name).toBe('AbortError');
    expect(p.stats().inFlight).toBe(0);
  });

  it('pools are per provider: one saturated pool does not hold up another', async () => {
    handler = hold;
    const busy = pool({ maxSockets: 1 });
    await busy.fetch(url);
    const other = pool({ maxSockets: 1 });
    handler = (_req, res) => res.end('{"other":true}');
    expect(await (await other.fetch(url)).json()).toEqual({ other: true });
  });

  it('idle keep-alive sockets are closed after idleSocketMs; pool limits come from the options', async () => {
    const p = pool({ maxSockets: 3, maxFreeSockets: 1, idleSocketMs: 100 });
    await Promise.all([1, 2, 3].map(async () => (await p.fetch(url)).text()));
    await waitFor('free sockets trimmed to maxFreeSockets', () => p.stats().free === 1);
    await waitFor('the idle socket to close', () => p.stats().free === 0, 2_000);
  });

  it('close() fails requests in flight and every later call', async () => {
    handler = hold;
    const p = pool({ maxSockets: 1 });
    const first = await p.fetch(url);
    const queued = p.fetch(url);
    await waitFor('queued', () => p.stats().queued === 1);
    p.close();
    expect(await rejection(queued)).toBeInstanceOf(TypeError);
    await expect(first.text()).rejects.toThrow();
    expect(await rejection(p.fetch(url))).toBeInstanceOf(TypeError);
  });
});

describe('upstream pool: answers fetch cannot represent', () => {
  it.each([999, 600])('status %i fails the call (it used to throw out of the response handler and crash the process)', async (status) => {
    handler = (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
    };
    const err = await rejection(pool().fetch(url));
    expect(err).toBeInstanceOf(UpstreamProtocolError);
    expect(err?.message).toContain(String(status));
  });
});

describe('upstream pool: size caps', () => {
  const MAX = 64 * 1024;

  it('a body declared larger than maxResponseBytes fails before it is read', async () => {
    let written = 0;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * MAX) });
      const chunk = Buffer.alloc(16 * 1024, 'a');
      const more = () => {
        while (!res.destroyed && written < 10 * MAX && res.write(chunk)) written += chunk.length;
      };
      res.on('drain', more);
      more();
    };
    const p = pool({ maxResponseBytes: MAX });
    const err = await rejection(p.fetch(url));
    expect(err).toBeInstanceOf(ResponseTooLargeError);
    expect(err).toMatchObject({ code: 'upstream_response_too_large', part: 'body', limitBytes: MAX });
    // The socket is gone, not returned to the pool half-read.
    await waitFor('socket closed', () => p.stats().active + p.stats().free === 0);
  });

  it('a chunked body crossing maxResponseBytes fails at the cap and the socket is destroyed', async () => {
    let closed = false;
    handler = (_req, res) => {
      res.on('close', () => (closed = true));
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(8 * 1024, 'b');
      const more = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', more);
      more(); // never ends on its own
    };
    const p = pool({ maxResponseBytes: MAX });
    const err = await rejection(p.fetch(url));
    expect(err).toBeInstanceOf(ResponseTooLargeError);
    await waitFor('the upstream to see the connection closed', () => closed);
  });

  it('a body within the cap is read whole; a body of exactly the cap too', async () => {
    handler = (_req, res) => res.end(Buffer.alloc(MAX, 'c'));
    const p = pool({ maxResponseBytes: MAX });
    expect((await (await p.fetch(url)).arrayBuffer()).byteLength).toBe(MAX);
  });

  it('one event-stream line longer than maxEventBytes fails the stream; many short lines do not', async () => {
    const line = `data: ${'x'.repeat(100)}\n\n`;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // 4 × the cap in all, but in short lines: fine.
      res.write(line.repeat(Math.ceil((4 * MAX) / line.length)));
      // Then one line that crosses the cap over several chunks.
      res.write('data: ');
      for (let i = 0; i < 8; i++) res.write('y'.repeat(MAX / 4));
      res.end('\n\n');
    };
    const p = pool({ maxEventBytes: MAX });
    const r = await p.fetch(url);
    const reader = r.body!.getReader();
    let bytes = 0;
    const err = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        bytes += value.length;
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResponseTooLargeError);
    expect(err).toMatchObject({ part: 'line', limitBytes: MAX });
    expect(bytes).toBeGreaterThan(4 * MAX);
    expect(bytes).toBeLessThan(6 * MAX);
  });

  it('a line cut by CRLF or CR resets the count', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < 6; i++) res.write(`data: ${'z'.repeat(MAX / 2)}${i % 2 ? '\r\n' : '\r'}`);
      res.end('\n');
    };
    const p = pool({ maxEventBytes: MAX });
    expect((await (await p.fetch(url)).text()).length).toBeGreaterThan(3 * MAX);
  });

  it('an event stream read whole (READ_WHOLE) is capped as a body', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = `data: ${'w'.repeat(1000)}\n\n`;
      const more = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', more);
      more();
    };
    const p = pool({ maxResponseBytes: MAX, maxEventBytes: MAX });
    expect(await rejection(p.fetch(url, { ...READ_WHOLE_INIT } as RequestInit))).toMatchObject({ part: 'body' });
  });
});
