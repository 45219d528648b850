import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SSE_HEADERS, writeEvent } from '../../../src/edge/sse.js';

/** The raw bytes of one GET against `handler`, read from a plain socket (chunk framing visible). */
async function rawGet(handler: (res: ServerResponse) => void | Promise<void>): Promise<string> {
  server = createServer((_req, res) => void handler(res));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return new Promise<string>((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    sock.on('data', (d) => (text += d.toString('latin1')));
    sock.on('error', reject);
    sock.on('end', () => resolve(text));
    sock.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  });
}
let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** The chunks of a chunked body: their payloads in order. */
function chunks(raw: string): string[] {
  let body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  const out: string[] = [];
  for (;;) {
    const nl = body.indexOf('\r\n');
    const size = parseInt(body.slice(0, nl), 16);
    if (!size) return out;
    out.push(body.slice(nl + 2, nl + 2 + size));
    body = body.slice(nl + 2 + size + 2);
  }
}

describe('SSE writes', () => {
  it('events of one turn leave in one chunk, and an end in the same turn loses none of them', async () => {
    const raw = await rawGet((res) => {
      res.writeHead(200, SSE_HEADERS);
      for (let i = 0; i < 5; i++) expect(writeEvent(res, `{"n":${i}}`)).toBeUndefined();
      writeEvent(res, '[DONE]');
      res.end();
    });
    expect(chunks(raw)).toEqual(['data: {"n":0}\n\ndata: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3}\n\ndata: {"n":4}\n\ndata: [DONE]\n\n']);
  });

  it('events of different turns leave in their own turn, in order', async () => {
    const raw = await rawGet(async (res) => {
      res.writeHead(200, SSE_HEADERS);
      writeEvent(res, 'a');
      await new Promise((r) => setImmediate(r));
      writeEvent(res, 'b');
      writeEvent(res, 'c');
      await new Promise((r) => setTimeout(r, 5));
      writeEvent(res, 'd');
      res.end('data: tail\n\n');
    });
    expect(chunks(raw)).toEqual(['data: a\n\n', 'data: b\n\ndata: c\n\n', 'data: d\n\n', 'data: tail\n\n']);
  });

  it('an end a middleware put in place of node’s is still the one called, after the pending events', async () => {
    const calls: string[] = [];
    const raw = await rawGet((res) => {
      const own = res.end.bind(res);
      res.end = ((...args: Parameters<typeof res.end>) => {
        calls.push('middleware end');
        return own(...args);
      }) as typeof res.end;
      res.writeHead(200, SSE_HEADERS);
      writeEvent(res, 'last');
      res.end();
    });
    expect(calls).toEqual(['middleware end']);
    expect(chunks(raw)).toEqual(['data: last\n\n']);
  });

  it('a backed-up socket makes the next write wait for drain', async () => {
    let waited = false;
    const raw = await rawGet(async (res) => {
      res.writeHead(200, SSE_HEADERS);
      writeEvent(res, 'x'.repeat(4 << 20));
      await new Promise((r) => setImmediate(r));
      const p = writeEvent(res, 'after');
      expect(p).toBeInstanceOf(Promise);
      await p;
      waited = true;
      res.end();
    });
    expect(waited).toBe(true);
    expect(raw.endsWith('data: after\n\n\r\n0\r\n\r\n')).toBe(true);
  });
});
