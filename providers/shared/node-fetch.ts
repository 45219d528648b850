/**
 * A `fetch` for the openai SDK built on node:http(s) with keep-alive agents. Node's global
 * fetch (undici behind WHATWG streams) costs about twice the CPU per call of http.request;
 * on the router's hot path that is most of its overhead. Only what the SDK uses is supported:
 * string or byte bodies, headers, abort signals, streamed response bodies.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 512, scheduling: 'lifo' }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 512, scheduling: 'lifo' }),
};

function toHeaderRecord(init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!init) return out;
  new Headers(init).forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}

export function nodeFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  if (input instanceof Request) return fetch(input, init);
  const url = new URL(String(input));
  const transport = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!transport) return fetch(input, init);
  const body = init.body;
  if (body != null && typeof body !== 'string' && !(body instanceof Uint8Array)) return fetch(input, init);

  const signal = init.signal ?? undefined;
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const req = transport.request(url, { method: init.method ?? 'GET', headers: toHeaderRecord(init.headers), agent: agents[url.protocol as 'http:' | 'https:'] }, (res) => {
      const headers = new Headers();
      for (const [key, value] of Object.entries(res.headers)) {
        if (value === undefined) continue;
        if (Array.isArray(value)) for (const v of value) headers.append(key, v);
        else headers.set(key, value);
      }
      const status = res.statusCode ?? 502;
      const nullBody = status === 204 || status === 304 || init.method === 'HEAD';
      // Once the answer is ours, an abort ends the body stream rather than the request promise.
      signal?.removeEventListener('abort', onAbort);
      if (signal) signal.addEventListener('abort', () => res.destroy(abortError(signal)), { once: true });
      if (nullBody) {
        res.resume();
        resolve(new Response(null, { status, statusText: res.statusMessage, headers }));
        return;
      }
      // A JSON answer is read whole with Node streams and handed over as one buffer: much
      // cheaper than a WHATWG stream bridged from a Node one. Event streams stay streams.
      if (!String(res.headers['content-type'] ?? '').includes('text/event-stream')) {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () => resolve(new Response(new Uint8Array(Buffer.concat(parts)), { status, statusText: res.statusMessage, headers })));
        res.on('error', (err) => reject(err.name === 'AbortError' ? err : Object.assign(new TypeError('terminated'), { cause: err })));
        return;
      }
      resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, { status, statusText: res.statusMessage, headers }));
    });
    const onAbort = () => {
      req.destroy(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      // Match fetch: transport failures are TypeErrors with the socket error as cause.
      reject(err.name === 'AbortError' ? err : Object.assign(new TypeError('fetch failed'), { cause: err }));
    });
    req.end(body ?? undefined);
  });
}
