/**
 * Runs a non-streamed chat request through the router's own handler without a socket, for
 * background jobs: the same parsing, limits, filters, cache and routing as a request from an
 * app, with the status and JSON body it would have answered captured. Aborting `signal` is
 * the app leaving (the upstream call is aborted). A thin use of `runChatInternally`.
 */
import type { Request, Response } from 'express';
import type { Identity } from '../identity/types.js';
import { abortedBody, runChatInternally } from './internal-stream.js';

export interface CapturedAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

type Handler = (req: Request, res: Response) => Promise<void>;

export async function runInternally(handler: Handler, body: unknown, identity: Identity, signal: AbortSignal, requestId: string): Promise<CapturedAnswer> {
  const r = await runChatInternally(handler, body, { identity, requestId, signal });
  if (!r.finished) return { status: 499, body: abortedBody('The job was stopped.'), headers: r.headers };
  return { status: r.status, body: r.body, headers: r.headers };
}
