/**
 * `GET /v1/chat/completions/streams/:id`: replays a resumable stream after the client's
 * `Last-Event-ID` (or `?after=`, for clients that cannot set headers), then follows it live.
 * The same serving path answers a chat re-POST that carries a `Last-Event-ID`.
 *
 * A stream that is missing, expired or another caller's is answered the same 404
 * (`stream_not_found`): its existence is not told to whoever does not own it. A stream that is
 * over with nothing after the client's id is answered 204, the SSE way of saying "do not
 * reconnect" (an EventSource reconnects by itself after the server closes a stream).
 */
import type { Request, RequestHandler, Response } from 'express';

import { identityOf } from '../edge/client-auth.js';
import { wireError, type WireError } from '../edge/http-errors.js';
import { shuttingDownEvent, type InflightRegistry } from '../edge/inflight.js';
import { SSE_HEADERS } from '../edge/sse.js';
import type { StateLogger } from '../state/state-logger.js';
import { StateUnavailableError } from '../state/types.js';
import { formatEvent, parseEventId, wireEventId, writeFrame } from './event-frame.js';
import type { StreamBuffer } from './stream-buffer.js';
import { StreamsFull } from './stream-errors.js';
import { DONE } from './stream-ids.js';
import { startDeadline } from '../core/deadline.js';

/** Response header naming a resumable stream's id (on the chat answer and on a resume). */
export const STREAM_ID_HEADER = 'x-router-stream-id';

export interface ResumeDeps {
  buffer: StreamBuffer;
  logger: StateLogger;
  /** The stream when it is produced on this instance, to attach to while reading. */
  local: (streamId: string) => { attach(): void; detach(): void } | undefined;
  /** Requests in flight, for the shutdown drain. */
  inflight?: InflightRegistry;
}

/** A resume request: which stream, and the event id to start after (undefined: the start). */
export interface ResumeTarget {
  streamId: string;
  afterId?: string;
}

/** How long a resume waits for its first event before sending the headers of a stream still in progress. */
const FIRST_EVENT_WAIT_MS = 50;

const delay = (ms: number) =>
  new Promise<undefined>((resolve) => {
    setTimeout(() => resolve(undefined), ms).unref();
  });

const send = (res: Response, e: WireError) => {
  for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
  res.status(e.status).json(e.body);
};

const notFound = (id: string) => wireError(404, `No resumable stream ${id} (it may have expired, or belong to another key).`, 'invalid_request_error', null, 'stream_not_found');
const badEventId = () => wireError(400, 'Last-Event-ID (or ?after=) must be an event id of this stream, as sent in its id: lines.', 'invalid_request_error', 'Last-Event-ID', 'invalid_last_event_id');

/** The Last-Event-ID of a request, or `?after=`; undefined when neither is set (or empty). */
export function lastEventIdOf(req: Request): string | undefined {
  const header = req.get('last-event-id')?.trim();
  if (header) return header;
  const after = req.query.after;
  return typeof after === 'string' && after.trim() ? after.trim() : undefined;
}

/** Serves a resume: the SSE replay and live tail, or the error JSON when it cannot start. */
export async function serveResume(deps: ResumeDeps, req: Request, res: Response, target: ResumeTarget): Promise<void> {
  const owner = identityOf(res.locals).keyId;
  const flight = deps.inflight?.begin(res);
  const client = startDeadline({ parents: [flight?.signal] });
  res.on('close', () => client.abort());
  const signal = client.signal;
  let local: ReturnType<ResumeDeps['local']>;
  try {
    let events;
    try {
      events = await deps.buffer.read(target.streamId, owner, target.afterId, signal);
    } catch (err) {
      if (err instanceof RangeError) return send(res, badEventId());
      if (err instanceof StreamsFull) return send(res, { ...wireError(503, 'Too many resumes in progress; retry shortly.', 'service_unavailable', null, 'streams_full'), headers: { 'retry-after': '1' } });
      if (err instanceof StateUnavailableError) return send(res, { ...wireError(503, 'Stream buffers cannot be read right now; retry shortly.', 'service_unavailable', null, 'state_unavailable'), headers: { 'retry-after': '2' } });
      throw err;
    }
    if (!events) return send(res, notFound(target.streamId));
    local = deps.local(target.streamId);
    local?.attach();
    const it = events[Symbol.asyncIterator]();
    let done = false;
    try {
      // Nothing after the client's id and the stream is over (an EventSource reconnecting after
      // [DONE]): 204, which tells it to stop reconnecting. A live stream gets its headers at once.
      const pending = it.next();
      const first = await Promise.race([pending, delay(FIRST_EVENT_WAIT_MS)]);
      if (first?.done) {
        res.status(204).end();
        return;
      }
      res.writeHead(200, { ...SSE_HEADERS, [STREAM_ID_HEADER]: target.streamId });
      for (let r = first ?? (await pending); !r.done; r = await it.next()) {
        await writeFrame(res, formatEvent(wireEventId(target.streamId, r.value.id), r.value.data));
        if (r.value.data === DONE) done = true;
        if (res.destroyed) {
          await it.return?.();
          break;
        }
      }
    } catch (err) {
      deps.logger.warn({ stream: target.streamId, err: (err as Error).message }, 'resumed stream read failed');
      if (!res.headersSent) return send(res, { ...wireError(503, 'Stream buffers cannot be read right now; retry shortly.', 'service_unavailable', null, 'state_unavailable'), headers: { 'retry-after': '2' } });
    }
    if (!done && !res.destroyed) {
      // Never a silent end: say why the replay stops, without an id (a later resume starts where this one stopped).
      await writeFrame(res, formatEvent(undefined, flight?.signal.aborted ? shuttingDownEvent() : interruptedEvent()));
      await writeFrame(res, formatEvent(undefined, DONE));
    }
    res.end();
  } finally {
    local?.detach();
    client.dispose();
    flight?.done();
  }
}

/** The request handler of `GET /v1/chat/completions/streams/:id` (mounted behind client auth). */
export function createResumeHandler(deps: ResumeDeps): RequestHandler {
  return (req, res, next) => {
    const streamId = String(req.params.id ?? '');
    const raw = lastEventIdOf(req);
    const point = raw === undefined ? undefined : parseEventId(raw);
    if (raw !== undefined && (!point || (point.streamId !== undefined && point.streamId !== streamId))) return send(res, badEventId());
    serveResume(deps, req, res, { streamId, afterId: point?.afterId }).catch(next);
  };
}

function interruptedEvent(): string {
  return JSON.stringify({
    error: {
      message: 'The resumed stream was interrupted: its buffer could not be read to the end (it expired, or its router instance stopped). Resume again from the last event id, or retry the request.',
      type: 'server_error',
      param: null,
      code: 'stream_interrupted',
    },
  });
}
