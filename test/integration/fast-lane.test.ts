import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeProvider } from '../fixtures/fake-provider.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/**
 * POST /v1/chat/completions is served by the fast lane (node:http, no express); a query string
 * hands the same request to the express route. Whatever bytes a client sends, both answer the
 * same: status, content type, connection handling and the error body. Raw sockets, one
 * connection per request, so every byte is the test's.
 */

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

function exchange(port: number, request: string | Buffer): Promise<Answer & { closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      const text = data.toString('latin1');
      const at = text.indexOf('\r\n\r\n');
      if (at < 0) return;
      const [statusLine, ...lines] = text.slice(0, at).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const len = Number(headers['content-length']);
      const rest = data.subarray(Buffer.byteLength(text.slice(0, at + 4), 'latin1'));
      if (!closed && (!Number.isFinite(len) || rest.length < len)) return;
      done = true;
      sock.destroy();
      const raw = rest.subarray(0, Number.isFinite(len) ? len : rest.length).toString('utf8');
      let body: unknown = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        // not JSON: compared as text
      }
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body, closed });
    };
    sock.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      finish(false);
    });
    sock.on('close', () => (done ? undefined : data.length ? finish(true) : reject(new Error('closed without an answer'))));
    sock.on('error', () => {});
    sock.once('connect', () => sock.write(request));
  });
}

function post(path: string, body: string | Buffer | undefined, headers: Record<string, string> = {}): Buffer {
  const all: Record<string, string> = { host: 'localhost', 'content-type': 'application/json', authorization: 'Bearer good-key-0123456789', ...headers };
  if (body !== undefined && all['content-length'] === undefined && all['transfer-encoding'] === undefined) all['content-length'] = String(Buffer.byteLength(body));
  const head = `POST ${path} HTTP/1.1\r\n${Object.entries(all)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  return Buffer.concat([Buffer.from(head), body === undefined ? Buffer.alloc(0) : Buffer.from(body)]);
}

/** What must be equal between the two lanes (ids, timings and dates differ by nature). */
function comparable(a: Answer): unknown {
  const body = a.body as { error?: unknown; object?: string; choices?: unknown } | string;
  return {
    status: a.status,
    contentType: a.headers['content-type'],
    chunked: a.headers['transfer-encoding'],
    connection: a.headers.connection,
    cache: a.headers['x-router-cache'],
    provider: a.headers['x-router-provider'],
    body: typeof body === 'string' ? body.replace(/chatcmpl-[\w-]+/g, 'ID').replace(/"created":\d+/g, '"created":0') : typeof body === 'object' && body && 'error' in body ? body : typeof body === 'object' && body ? { object: body.object, choices: body.choices } : body,
  };
}

const valid = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
const nested = `{"model":"chat","messages":[{"role":"user","content":"hi"}],"metadata":${'['.repeat(400)}${']'.repeat(400)}}`;

const cases: Array<[string, Buffer]> = [
  ['a valid request', post('{path}', valid)],
  ['a valid request with the request id given', post('{path}', valid, { 'x-request-id': 'abc-123' })],
  ['no key', post('{path}', valid, { authorization: '' })],
  ['a wrong key', post('{path}', valid, { authorization: 'Bearer wrong-key-0123456789' })],
  ['the key as api-key', post('{path}', valid, { authorization: '', 'api-key': 'good-key-0123456789' })],
  ['no body at all', post('{path}', undefined)],
  ['an empty body', post('{path}', '')],
  ['whitespace only', post('{path}', '   \n ')],
  ['a JSON string', post('{path}', '"hello"')],
  ['a JSON number', post('{path}', '42')],
  ['an array', post('{path}', '[1,2]')],
  ['truncated JSON', post('{path}', '{"model":"chat","messages":[')],
  ['whitespace before the object', post('{path}', `\n\t ${valid}`)],
  ['a byte-order mark', post('{path}', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(valid)]))],
  ['invalid UTF-8 inside a string', post('{path}', Buffer.concat([Buffer.from('{"model":"chat","messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}]}')]))],
  ['no content type', post('{path}', valid, { 'content-type': '' })],
  ['a text/plain content type', post('{path}', valid, { 'content-type': 'text/plain' })],
  ['an unknown model', post('{path}', JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }))],
  ['a bad field', post('{path}', JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], temperature: 'hot' }))],
  ['too deep', post('{path}', nested)],
  ['declared over the limit', post('{path}', 'x'.repeat(10), { 'content-length': String(64 * 1024) })],
  ['chunked over the limit', Buffer.concat([post('{path}', undefined, { 'transfer-encoding': 'chunked' }), Buffer.from(`${(40 * 1024).toString(16)}\r\n${'x'.repeat(40 * 1024)}\r\n0\r\n\r\n`)])],
  ['chunked within the limit', Buffer.concat([post('{path}', undefined, { 'transfer-encoding': 'chunked' }), Buffer.from(`${Buffer.byteLength(valid).toString(16)}\r\n${valid}\r\n0\r\n\r\n`)])],
  // Closed by the server after the stream (an SSE answer has no length to wait for).
  ['a stream', post('{path}', JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] }), { connection: 'close' })],
];

describe('fast lane: POST /v1/chat/completions without express answers exactly as the express route', () => {
  let h: RouterHarness;
  let port: number;
  beforeAll(async () => {
    h = await startRouter(
      `
server: { bodyLimit: 32kb, limits: { maxDepth: 64 } }
auth: { keys: [good-key-0123456789] }
providers: { a: { kind: openai, apiKeys: [k] } }
routes: { chat: { targets: [{ provider: a, model: m }] } }
`,
      { providers: { a: new FakeProvider('a') } },
    );
    port = h.server.port();
  });
  afterAll(() => h.close());

  for (const [name, template] of cases) {
    it(name, async () => {
      const text = template.toString('latin1');
      const fast = await exchange(port, Buffer.from(text.replace('{path}', '/v1/chat/completions'), 'latin1'));
      const viaExpress = await exchange(port, Buffer.from(text.replace('{path}', '/v1/chat/completions?lane=express'), 'latin1'));
      expect(comparable(fast)).toEqual(comparable(viaExpress));
      expect(fast.headers['x-request-id']).toBeTruthy();
      if (name.includes('request id given')) expect(fast.headers['x-request-id']).toBe('abc-123');
    });
  }

});
