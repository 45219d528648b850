import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fixtures/fake-provider.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/**
 * The edge at the socket level: whatever a client sends, and however slowly, it gets an OpenAI
 * error body and the connection is not held. Raw `net` sockets, since HTTP clients cannot send
 * what these tests send.
 */

const HEADERS_MS = 600;
const REQUEST_MS = 1_200;
const LIMITS = `{ headersTimeoutMs: ${HEADERS_MS}, requestTimeoutMs: ${REQUEST_MS}, keepAliveTimeoutMs: 2000, maxConnections: 50 }`;

interface Raw {
  sock: net.Socket;
  /** Everything received so far. */
  text(): string;
  /** Resolves with ms since connect once the server closed the connection. */
  closed: Promise<number>;
  send(s: string): void;
}

function connect(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (data += d));
    const closed = new Promise<number>((r) => sock.once('close', () => r(performance.now() - started)));
    sock.on('error', () => {});
    sock.once('connect', () => resolve({ sock, text: () => data, closed, send: (s) => void (sock.writable && sock.write(s)) }));
    sock.once('error', reject);
  });
}

/** Status, lower-cased headers and JSON body of the first response in `text`. */
function parse(text: string): { status: number; headers: Record<string, string>; body: { error: { message: string; type: string; param: unknown; code: string } } } {
  const at = text.indexOf('\r\n\r\n');
  expect(at, `a whole response in ${JSON.stringify(text.slice(0, 200))}`).toBeGreaterThan(0);
  const [statusLine, ...lines] = text.slice(0, at).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const rest = text.slice(at + 4);
  const len = Number(headers['content-length']);
  return { status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(Number.isFinite(len) ? Buffer.from(rest).subarray(0, len).toString() : rest) };
}

const until = async (cond: () => boolean, ms = 3_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const expectOpenAIError = (r: ReturnType<typeof parse>, status: number, code?: string) => {
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  expect(r.body.error).toMatchObject({ message: expect.any(String), type: expect.any(String), param: null });
  if (code) expect(r.body.error.code).toBe(code);
};

describe('edge limits (no client keys, loopback)', () => {
  let h: RouterHarness;
  let port: number;
  beforeAll(async () => {
    h = await startRouter(
      `
server: { bodyLimit: 1kb, limits: ${LIMITS} }
providers: { a: { kind: openai, apiKeys: [k] } }
routes: { chat: { targets: [{ provider: a, model: m }] } }
`,
      { providers: { a: new FakeProvider('a') } },
    );
    port = h.server.port();
  });
  afterAll(() => h.close());

  it('answers an absolute-form target that does not parse with a JSON 400, not an HTML page', async () => {
    const c = await connect(port);
    c.send('POST http://[bad/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
    await c.closed;
    const r = parse(c.text());
    expectOpenAIError(r, 400, 'invalid_url');
    expect(c.text()).not.toContain('<html');
  });

  it('serves a valid absolute-form target by its path', async () => {
    const c = await connect(port);
    c.send('GET http://router.example/healthz HTTP/1.1\r\nHost: router.example\r\nConnection: close\r\n\r\n');
    await c.closed;
    const r = parse(c.text());
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
  });

  it.each([
    ['a malformed request line', 'GARBAGE\r\n\r\n', 400, 'bad_request'],
    ['a bad header', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', 400, 'bad_request'],
    ['a conflicting body length', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}', 400, 'bad_request'],
    ['headers over the size limit', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
    ['no Host header', 'GET /healthz HTTP/1.1\r\n\r\n', 400, 'missing_host'],
    ['an Expect the server cannot meet', 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n', 417, 'expectation_failed'],
    ['an unknown path', 'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404, 'unknown_url'],
  ])('answers %s in OpenAI shape', async (_name, request, status, code) => {
    const c = await connect(port);
    c.send(request);
    await c.closed;
    expectOpenAIError(parse(c.text()), status, code);
  });

  it('cuts a client that never finishes its headers, with a 408, within headersTimeoutMs', async () => {
    const c = await connect(port);
    c.send('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const dribble = setInterval(() => c.send('X-a: b\r\n'), 100);
    const ms = await c.closed;
    clearInterval(dribble);
    expect(ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(ms).toBeLessThan(HEADERS_MS + 1_000);
    expectOpenAIError(parse(c.text()), 408, 'request_timeout');
  });

  it('cuts a body dribbled a byte at a time within requestTimeoutMs, with a 408', async () => {
    const c = await connect(port);
    c.send('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{');
    const dribble = setInterval(() => c.send(' '), 150);
    const ms = await c.closed;
    clearInterval(dribble);
    expect(ms).toBeGreaterThanOrEqual(REQUEST_MS - 50);
    expect(ms).toBeLessThan(REQUEST_MS + 1_000);
    expectOpenAIError(parse(c.text()), 408, 'request_timeout');
  });

  it('lets a stream run past requestTimeoutMs: it bounds receiving the request, not the answer', async () => {
    const slow = new FakeProvider('a').script({ stream: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], delayMs: 250 });
    const s = await startRouter(`server: { limits: ${LIMITS} }\nproviders: { a: { kind: openai, apiKeys: [k] } }\nroutes: { chat: { targets: [{ provider: a, model: m }] } }\n`, { providers: { a: slow } });
    try {
      const started = performance.now();
      const res = await fetch(`${s.baseURL}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }], stream: true }) });
      const text = await res.text();
      expect(performance.now() - started).toBeGreaterThan(REQUEST_MS);
      expect(text.trim().endsWith('data: [DONE]')).toBe(true);
      expect(text).not.toContain('"error"');
    } finally {
      await s.close();
    }
  });

  it('closes at once on a 404 whose body is still coming', async () => {
    const c = await connect(port);
    c.send('POST /v1/nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{');
    const dribble = setInterval(() => c.send(' '), 50);
    const ms = await c.closed;
    clearInterval(dribble);
    expect(ms).toBeLessThan(400);
    expectOpenAIError(parse(c.text()), 404, 'unknown_url');
  });

  it('refuses a body over the limit with 413 and closes at once, without reading the rest', async () => {
    const c = await connect(port);
    c.send('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"model":');
    const ms = await c.closed;
    expect(ms).toBeLessThan(500);
    const r = parse(c.text());
    expectOpenAIError(r, 413, 'request_too_large');
    expect(r.headers.connection).toBe('close');
  });

  it('refuses a chunked body as soon as it passes the limit, without waiting for its end', async () => {
    const c = await connect(port);
    const chunk = `{"model":"${'x'.repeat(1500)}`;
    c.send(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const ms = await c.closed;
    expect(ms).toBeLessThan(500);
    expectOpenAIError(parse(c.text()), 413, 'request_too_large');
  });

  it('keeps a connection whose request was answered normally, a 404 without body included (keep-alive)', async () => {
    const c = await connect(port);
    c.send('GET /nope HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => c.text().includes('unknown_url'));
    expect(parse(c.text()).headers.connection).toBe('keep-alive');
    c.send('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => c.text().includes('"ok"'));
    c.send('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => c.text().split('"ok"').length === 3);
    expect(c.sock.destroyed).toBe(false);
    c.sock.destroy();
  });
});

describe('edge limits with client keys', () => {
  let h: RouterHarness;
  beforeAll(async () => {
    h = await startRouter(
      `
server: { limits: ${LIMITS} }
auth: { keys: [good-key] }
providers: { a: { kind: openai, apiKeys: [k] } }
routes: { chat: { targets: [{ provider: a, model: m }] } }
`,
      { providers: { a: new FakeProvider('a') } },
    );
  });
  afterAll(() => h.close());

  it('answers 401 and closes the connection at once while the body is still dribbling', async () => {
    const c = await connect(h.server.port());
    c.send('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    const dribble = setInterval(() => c.send(' '), 50);
    const ms = await c.closed;
    clearInterval(dribble);
    expect(ms).toBeLessThan(400);
    const r = parse(c.text());
    expectOpenAIError(r, 401, 'invalid_api_key');
    expect(r.headers.connection).toBe('close');
  });

  it('answers 401 to an empty api-key header', async () => {
    const c = await connect(h.server.port());
    c.send('GET /v1/models HTTP/1.1\r\nHost: x\r\napi-key: \r\n\r\n');
    await c.closed;
    expectOpenAIError(parse(c.text()), 401, 'invalid_api_key');
  });
});

describe('maxConnections', () => {
  let h: RouterHarness;
  beforeAll(async () => {
    h = await startRouter(
      `
server: { limits: { maxConnections: 2, headersTimeoutMs: 5000, requestTimeoutMs: 5000 } }
providers: { a: { kind: openai, apiKeys: [k] } }
routes: { chat: { targets: [{ provider: a, model: m }] } }
`,
      { providers: { a: new FakeProvider('a') } },
    );
  });
  afterAll(() => h.close());

  it('refuses connections above the limit and accepts again once one closes', async () => {
    const port = h.server.port();
    const held = [await connect(port), await connect(port)];
    // Both are counted by the server before the third arrives.
    await new Promise((r) => setTimeout(r, 50));
    const third = await connect(port);
    third.send('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await third.closed).toBeLessThan(1_000);
    expect(third.text()).toBe('');
    // The held ones still work.
    held[0]!.send('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await held[0]!.closed;
    expect(parse(held[0]!.text()).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    const again = await connect(port);
    again.send('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await again.closed;
    expect(parse(again.text()).status).toBe(200);
    held[1]!.sock.destroy();
  });
});
