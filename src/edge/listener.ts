/**
 * The node HTTP(S) server of one listener, with the edge limits applied (`server.limits`) and
 * Node's own refusals turned into OpenAI error answers.
 */
import http from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { RouterConfig } from '../config/schema.js';
import { onClientError, sendAndClose } from './connection.js';
import { wireError } from './http-errors.js';

export type Limits = RouterConfig['server']['limits'];
export type Listener = http.Server | https.Server;

/** How often Node checks header and request deadlines (its default, 30 s, would overshoot them by as much). */
const checkEvery = (l: Limits) => Math.max(50, Math.min(1_000, Math.floor(Math.min(l.headersTimeoutMs, l.requestTimeoutMs) / 5)));

/** Applies the limits that can change on a running server (all but the check interval). */
export function applyLimits(server: Listener, l: Limits): void {
  // requestTimeout bounds receiving the request (headers and body), not the answer: streams may
  // run as long as their route allows.
  server.headersTimeout = l.headersTimeoutMs;
  server.requestTimeout = l.requestTimeoutMs;
  server.keepAliveTimeout = l.keepAliveTimeoutMs;
  server.maxConnections = l.maxConnections;
}

export function createListener(handle: http.RequestListener, opts: { limits: Limits; tls?: SecureContextOptions; logger: Logger; name: string }): Listener {
  const { limits, logger } = opts;
  const httpOptions: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkEvery(limits),
    // Node's own answer to a missing Host is an empty 400; the front answers it in JSON.
    requireHostHeader: false,
  };
  // A TLS handshake is bounded like the headers that follow it (Node's default is 120 s).
  const server: Listener = opts.tls ? https.createServer({ ...opts.tls, ...httpOptions, handshakeTimeout: limits.headersTimeoutMs }, handle) : http.createServer(httpOptions, handle);
  applyLimits(server, limits);
  server.on('clientError', onClientError);
  // `Expect` values other than 100-continue: Node would answer an empty 417.
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    sendAndClose(req, res, wireError(417, `Unsupported Expect header: ${String(req.headers.expect).slice(0, 64)}.`, 'invalid_request_error', null, 'expectation_failed'));
  });
  let lastDropLog = 0;
  server.on('drop', (data?: { remoteAddress?: string }) => {
    const now = Date.now();
    if (now - lastDropLog < 10_000) return;
    lastDropLog = now;
    logger.warn({ listener: opts.name, maxConnections: server.maxConnections, remoteAddress: data?.remoteAddress }, 'connection refused: server.limits.maxConnections reached (logged at most every 10 s)');
  });
  if (opts.tls) server.on('tlsClientError', (err: Error) => logger.debug({ listener: opts.name, err: err.message }, 'TLS handshake failed'));
  return server;
}
