/**
 * The hot endpoint without a framework: `POST /v1/chat/completions` served straight from
 * node:http (request id, client auth, the JSON body with its limits, then the chat handler),
 * where express's router, its request/response prototypes and body-parser's layers cost about
 * as much CPU as the rest of the request. It answers exactly as the express route does
 * (differentially tested); anything unusual is handed to express instead, which stays the one
 * place for the rest of the app:
 * - another method or path, or any query string;
 * - a compressed body (`content-encoding`), or a `charset` in the content type;
 * - a job (`x-router-async`) or a resume (`last-event-id`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { parseByteSize } from '../config/schema.js';
import type { ChatHttpRequest, ChatHttpResponse } from './chat-handler.js';
import { authenticateClient, setIdentity, type ClientAuthDeps } from './client-auth.js';
import { bodyPending, closeAfterAnswer, sendWireError as send } from './connection.js';
import { invalidJsonBody, requestIdOf, requestTooLarge, wireError, type WireError } from './http-errors.js';

export interface FastLaneDeps {
  clientAuth: ClientAuthDeps;
  /** The body limit in force (server.bodyLimit), e.g. "4mb". */
  bodyLimit: () => string;
  chat: (req: ChatHttpRequest, res: ChatHttpResponse) => Promise<void>;
  logger: Logger;
}

/** Serves the request and returns true, or returns false (express serves it). */
export type FastLane = (req: IncomingMessage, res: ServerResponse) => boolean;

const PATH = '/v1/chat/completions';

/** The first character that is not JSON whitespace, or undefined. */
function firstNonSpace(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return text[i];
  }
  return undefined;
}

/**
 * The body as body-parser's strict JSON parser reads it: an empty body is `{}`, a leading BOM
 * is dropped, anything but an object or array at the top is invalid. Throws the 400.
 */
export function parseJsonBody(buf: Buffer): unknown {
  let text = buf.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) return {};
  const first = text[0] === '{' || text[0] === '[' ? text[0] : firstNonSpace(text);
  if (first !== '{' && first !== '[') throw invalidJsonBody();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidJsonBody();
  }
}

export function createFastLane(deps: FastLaneDeps): FastLane {
  const internal = (req: IncomingMessage, res: ServerResponse, err: unknown, requestId: string) => {
    deps.logger.error({ err: (err as Error)?.message, requestId }, 'unhandled error');
    if (res.headersSent || res.destroyed) return void res.end();
    // As express's error handler: a body still arriving is not read on.
    if (bodyPending(req)) closeAfterAnswer(req, res);
    send(res, wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error'));
  };

  /** Reads the body within the limit, then runs the chat handler. */
  function readBody(req: IncomingMessage, res: ChatHttpResponse, requestId: string): void {
    const limit = deps.bodyLimit();
    const max = parseByteSize(limit);
    const refuse = () => {
      closeAfterAnswer(req, res);
      send(res, requestTooLarge(limit));
    };
    const declared = req.headers['content-length'];
    // No body at all (neither a length nor chunked): express leaves `req.body` undefined.
    if (declared === undefined && req.headers['transfer-encoding'] === undefined) return run(req, res, undefined, requestId);
    if (Number(declared) > max) return refuse();
    const parts: Buffer[] = [];
    let size = 0;
    let over = false;
    const onData = (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        parts.length = 0;
        req.off('data', onData);
        if (!res.headersSent) refuse();
        return;
      }
      parts.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (over) return;
      let body: unknown;
      try {
        body = parseJsonBody(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size));
      } catch (err) {
        return send(res, err as WireError);
      }
      try {
        run(req, res, body, requestId);
      } catch (err) {
        internal(req, res, err, requestId);
      }
    });
    // A body cut short (the client went away): nothing to answer on a dead connection.
    req.once('error', () => {
      over = true;
    });
  }

  function run(req: IncomingMessage, res: ChatHttpResponse, body: unknown, requestId: string): void {
    const r = req as ChatHttpRequest;
    r.body = body;
    deps.chat(r, res).catch((err: unknown) => internal(req, res, err, requestId));
  }

  return (req, res) => {
    if (req.method !== 'POST' || req.url !== PATH) return false;
    const h = req.headers;
    if (h['x-router-async'] !== undefined || h['last-event-id'] !== undefined) return false;
    if (h['content-encoding'] !== undefined && h['content-encoding'].toLowerCase() !== 'identity') return false;
    if (h['content-type']?.toLowerCase().includes('charset')) return false;
    const locals: Record<string, unknown> = { receivedAt: performance.now() };
    const requestId = requestIdOf(h['x-request-id']);
    locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    const out = Object.assign(res, { locals }) as ChatHttpResponse;
    authenticateClient(
      deps.clientAuth,
      req,
      res,
      (identity) => {
        setIdentity(locals, identity);
        readBody(req, out, requestId);
      },
      (err) => internal(req, res, err, requestId),
    );
    return true;
  };
}
