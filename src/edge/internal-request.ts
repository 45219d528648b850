/**
 * Runs a non-streamed chat request through the router's own handler without a socket, for
 * background jobs: the same parsing, limits, filters, cache and routing as a request from an
 * app, with the status and JSON body it would have answered captured. Aborting `signal` is
 * the app leaving (the upstream call is aborted).
 */
import { EventEmitter } from 'node:events';
import type { Request, Response } from 'express';
import type { Identity } from '../identity/types.js';

export interface CapturedAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

type Handler = (req: Request, res: Response) => Promise<void>;

export async function runInternally(handler: Handler, body: unknown, identity: Identity, signal: AbortSignal, requestId: string): Promise<CapturedAnswer> {
  const headers: Record<string, string> = {};
  const emitter = new EventEmitter();
  let status = 200;
  let text = '';
  let finished = false;
  let destroyed = false;
  // Getters defined on the object itself (Object.assign would copy their values once).
  Object.defineProperties(emitter, {
    headersSent: { get: () => finished },
    writableFinished: { get: () => finished },
    destroyed: { get: () => destroyed },
  });
  const res = Object.assign(emitter, {
    locals: { identity, requestId, receivedAt: performance.now() } as Record<string, unknown>,
    setHeader(k: string, v: string | number | readonly string[]) {
      headers[k.toLowerCase()] = String(v);
      return res;
    },
    getHeader: (k: string) => headers[k.toLowerCase()],
    status(code: number) {
      status = code;
      return res;
    },
    json(value: unknown) {
      text = JSON.stringify(value);
      finished = true;
      emitter.emit('finish');
      return res;
    },
    writeHead(code: number, h?: Record<string, string | number>) {
      status = code;
      for (const [k, v] of Object.entries(h ?? {})) headers[k.toLowerCase()] = String(v);
      return res;
    },
    write(chunk: string) {
      text += chunk;
      return true;
    },
    end(chunk?: string) {
      if (chunk) text += chunk;
      finished = true;
      emitter.emit('finish');
      return res;
    },
  });
  const req = { body, headers: {}, query: {}, get: () => undefined, method: 'POST', path: '/v1/chat/completions' };
  const onAbort = () => {
    if (finished) return;
    destroyed = true;
    emitter.emit('close');
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    await handler(req as unknown as Request, res as unknown as Response);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (!finished) return { status: 499, body: { error: { message: 'The job was stopped.', type: 'request_aborted', param: null, code: 'client_closed_request' } }, headers };
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: kept as text */
  }
  return { status, body: parsed, headers };
}
