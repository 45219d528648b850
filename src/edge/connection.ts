/**
 * Connection-level answers: the ones Node's HTTP parser would otherwise give (an empty 400, or
 * nothing), and closing connections whose request was refused.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { wireError, type WireError } from './http-errors.js';

/**
 * Ends the connection as soon as this answer is out: `Connection: close`, then the socket is
 * destroyed once the answer is flushed, without reading the rest of a body the client may still
 * be sending (or dribbling).
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('connection', 'close');
  const socket = req.socket;
  res.once('finish', () => {
    // 'finish': the last byte was handed to the kernel. Node itself ends a `Connection: close`
    // socket then; destroying it too makes sure a half-open client cannot keep it.
    setImmediate(() => {
      if (!socket.destroyed) socket.destroy();
    });
  });
}

/** The request has a body that has not been received to its end yet. */
export function bodyPending(req: IncomingMessage): boolean {
  if (req.complete) return false;
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** Writes a JSON answer on node's own response (no framework: the fast lane has none, and express's `res.json` does work a POST answer never needs). */
export function writeJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Writes a WireError as the answer. */
export function sendWireError(res: ServerResponse, e: WireError): void {
  writeJson(res, e.status, e.body, e.headers);
}

/** Writes a WireError as the answer and closes the connection after it (pre-express paths). */
export function sendAndClose(req: IncomingMessage, res: ServerResponse, e: WireError): void {
  closeAfterAnswer(req, res);
  sendWireError(res, e);
}

/** The status and error for a rejection by Node's HTTP parser (or its timeouts). */
export function clientErrorAnswer(code: string | undefined): WireError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return wireError(431, 'Request header fields too large.', 'invalid_request_error', null, 'headers_too_large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return wireError(408, 'The request was not received in time (server.limits.headersTimeoutMs / requestTimeoutMs).', 'invalid_request_error', null, 'request_timeout');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return wireError(413, 'Request chunk extensions too large.', 'invalid_request_error', null, 'request_too_large');
    default:
      return wireError(400, 'The HTTP request could not be parsed.', 'invalid_request_error', null, 'bad_request');
  }
}

/** A complete minimal HTTP/1.1 answer with a JSON body, for writing straight to a socket. */
export function rawHttpAnswer(e: WireError): string {
  const body = JSON.stringify(e.body);
  return `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** How long a socket may take to flush a parser-rejection answer before it is destroyed anyway. */
const FLUSH_MS = 1_000;

/**
 * `server.on('clientError')`: answer a request Node's parser refused (malformed, headers too
 * large, headers or body not received in time) with an OpenAI error body, then drop the socket.
 * Nothing is written to a socket that is no longer writable or whose response already started.
 */
export function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const started = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage?.headersSent === true;
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable || started || answered.has(socket)) {
    socket.destroy();
    return;
  }
  answered.add(socket);
  const timer = setTimeout(() => socket.destroy(), FLUSH_MS);
  timer.unref();
  socket.end(rawHttpAnswer(clientErrorAnswer(err.code)), () => {
    clearTimeout(timer);
    socket.destroy();
  });
}

/** Sockets that already got a parser-rejection answer: never a second one. */
const answered = new WeakSet<Duplex>();
