/**
 * The benchmark's baseline: the least a Node gateway can do per request, with no framework — a
 * node:http server in front of a node:http client with a keep-alive Agent. Per request: read the
 * body, JSON.parse it, check the Bearer key (a string compare), JSON.stringify and POST it
 * upstream; non-streamed: read the answer, JSON.parse, JSON.stringify, reply; streamed: split
 * the upstream's SSE bytes into events, JSON.parse + JSON.stringify each `data:` payload and
 * write `data: …\n\n` to the client, then `data: [DONE]`.
 *
 * Only node builtins (the harness runs it as plain node after a transpile, like the router).
 * Usage: LEAN_CLIENT_KEY=… LEAN_UPSTREAM_KEY=… tsx scripts/bench/lean-passthrough.ts PORT UPSTREAM_BASE_URL
 *   (UPSTREAM_BASE_URL like http://127.0.0.1:8000/v1; prints the port it listens on, first line)
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';

const port = Number(process.argv[2] ?? 0);
const upstream = new URL(process.argv[3] ?? 'http://127.0.0.1:8000/v1');
const expected = `Bearer ${process.env.LEAN_CLIENT_KEY ?? 'sk-lean-bench'}`;
const upstreamAuth = `Bearer ${process.env.LEAN_UPSTREAM_KEY ?? 'sk-upstream-bench'}`;
const chatPath = `${upstream.pathname.replace(/\/$/, '')}/chat/completions`;
const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });

function fail(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { message, type: status === 401 ? 'invalid_request_error' : 'api_error', param: null, code: null } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

/** Streams: SSE events from upstream bytes, each data payload re-serialised. */
function pipeStream(up: IncomingMessage, res: ServerResponse): void {
  res.writeHead(up.statusCode ?? 200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  up.setEncoding('utf8');
  let buf = '';
  up.on('data', (text: string) => {
    buf += text;
    let end: number;
    try {
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, end);
        buf = buf.slice(end + 2);
        for (const rawLine of event.split('\n')) {
          const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
          if (!line.startsWith('data:')) continue;
          const data = line.slice(line.charCodeAt(5) === 32 ? 6 : 5);
          if (data === '[DONE]') res.write('data: [DONE]\n\n');
          else res.write(`data: ${JSON.stringify(JSON.parse(data))}\n\n`);
        }
      }
    } catch {
      up.destroy();
      res.destroy();
    }
  });
  up.on('end', () => res.end());
  up.on('error', () => res.destroy());
}

function forward(payload: { stream?: unknown }, res: ServerResponse): void {
  const out = JSON.stringify(payload);
  const upReq = request(
    {
      agent,
      host: upstream.hostname,
      port: upstream.port,
      path: chatPath,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out), authorization: upstreamAuth },
    },
    (up) => {
      if (payload.stream === true && (up.statusCode ?? 500) < 300) return pipeStream(up, res);
      const parts: Buffer[] = [];
      up.on('data', (c: Buffer) => parts.push(c));
      up.on('error', () => fail(res, 502, 'upstream connection failed'));
      up.on('end', () => {
        let answer: string;
        try {
          answer = JSON.stringify(JSON.parse(Buffer.concat(parts).toString('utf8')));
        } catch {
          return fail(res, 502, 'upstream sent invalid JSON');
        }
        res.writeHead(up.statusCode ?? 502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer);
      });
    },
  );
  upReq.on('error', () => fail(res, 502, 'upstream connection failed'));
  upReq.end(out);
}

const server = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/chat/completions')) return fail(res, 404, 'not found');
    let payload: { stream?: unknown };
    try {
      payload = JSON.parse(Buffer.concat(parts).toString('utf8')) as { stream?: unknown };
    } catch {
      return fail(res, 400, 'invalid JSON');
    }
    if (req.headers.authorization !== expected) return fail(res, 401, 'invalid API key');
    forward(payload, res);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : ''}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
