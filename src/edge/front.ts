/**
 * What every request meets before express: the request target is checked (an absolute-form
 * target that does not parse would get express's HTML 404 page), CORS is applied (preflights
 * are answered here, without auth), and a draining server says `Connection: close`. Anything
 * thrown escapes as a 500 in OpenAI's shape, never an HTML page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { LiveList } from '../core/live-list.js';
import { sendAndClose } from './connection.js';
import { handleCors, type CorsConfig } from './cors.js';
import { wireError } from './http-errors.js';
import type { FastLane } from './fast-lane.js';

export interface FrontOptions {
  /** The CORS settings in force (none on the operator listener). */
  cors: () => CorsConfig | undefined;
  logger: Logger;
  /** Serves the hot endpoint without express when it can (returns true), see fast-lane.ts. */
  fast?: FastLane;
}

/**
 * The origin-form path (`/v1/...?q`) of a request target, or undefined when it is not one a
 * server can answer. An absolute-form target (`http://host/v1/...`, which servers must accept)
 * is reduced to its path.
 */
export function originForm(target: string): string | undefined {
  if (target.startsWith('/')) {
    // The common case needs no URL parse: a path that is not protocol-relative (`//`, `/\`)
    // and has no tab or line break (which URL parsing strips, making `/\t/` protocol-relative)
    // always resolves against a base.
    const second = target.charCodeAt(1);
    if (second !== 0x2f && second !== 0x5c && !/[\t\n\r]/.test(target)) return target;
    try {
      new URL(target, 'http://localhost');
      return target;
    } catch {
      return undefined;
    }
  }
  if (!/^https?:\/\//i.test(target)) return undefined;
  try {
    const u = new URL(target);
    return `${u.pathname}${u.search}`;
  } catch {
    return undefined;
  }
}

/** Ends a connection gracefully once its current answer is out (all of it flushed). */
function endAfter(res: ServerResponse): void {
  const socket = res.socket;
  const end = () => {
    if (socket && !socket.destroyed) socket.end(() => socket.destroy());
  };
  if (res.writableFinished) end();
  else res.once('finish', end);
}

export interface Front {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /**
   * The server is draining: every answer not yet started says `Connection: close`, and the
   * connection of every answer already under way (a stream) is ended once that answer is out.
   */
  startDrain(): void;
}

export function createFront(app: (req: IncomingMessage, res: ServerResponse) => void, opts: FrontOptions): Front {
  // Answers under way, so that a drain can close their connections once they are done (a list,
  // not a Set: see live-list.ts for what a Set churned once per request cost).
  const open = new LiveList<ServerResponse>();
  let draining = false;
  const startDrain = () => {
    draining = true;
    for (const res of open.values()) {
      if (!res.headersSent) res.setHeader('connection', 'close');
      else endAfter(res);
    }
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const entry = open.add(res);
    res.once('close', () => open.remove(entry));
    try {
      const path = originForm(req.url ?? '');
      if (path === undefined) {
        sendAndClose(req, res, wireError(400, 'The request target is not a valid URL.', 'invalid_request_error', null, 'invalid_url'));
        return;
      }
      req.url = path;
      if (req.httpVersion === '1.1' && !req.headers.host) {
        sendAndClose(req, res, wireError(400, 'An HTTP/1.1 request needs a Host header.', 'invalid_request_error', null, 'missing_host'));
        return;
      }
      if (draining) res.setHeader('connection', 'close');
      if (handleCors(opts.cors(), req, res)) return;
      if (opts.fast?.(req, res)) return;
      app(req, res);
    } catch (err) {
      opts.logger.error({ err: (err as Error).message }, 'request failed before routing');
      if (res.headersSent) return void res.destroy();
      sendAndClose(req, res, wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error'));
    }
  };
  return { handle, startDrain };
}
