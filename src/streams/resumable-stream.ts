/**
 * Resumable streams: the chat handler's side (`begin` a stream, `write` each SSE payload through
 * the buffer to learn its event id, `end` it) and the resume endpoint.
 *
 * Who is attached: the app that POSTed is, from `begin` until the handler calls `detach()` (its
 * socket closed); each resume reader on this instance attaches while it reads. With nobody
 * attached a timer of `detachedTimeoutMs` runs; when it fires and no reader is iterating the
 * buffer on any instance either (`buffer.hasReader`, for resumes served elsewhere), the upstream
 * is aborted (`abortUpstream`), and the handler ends the stream with its error event and `[DONE]`
 * as for any interrupted stream. Once the stream stops being buffered (its buffer is full, or the
 * buffer failed), no resume can reach its live remainder: nobody attached then aborts at once.
 *
 * Failure is never the live stream's: `write` resolves to undefined when the event was not
 * buffered (the handler then writes it without an `id:` line, which leaves the client's last id
 * where it was), and buffering stops for good at the first such event so that a resume never
 * skips one. Past `maxStreams` streams in progress `begin` throws StreamsFull, and when the
 * buffer cannot open one (Redis unreachable) it throws that error: in both cases the handler
 * serves the stream as a plain one.
 */
import type { IncomingHttpHeaders } from 'node:http';

import type { RequestHandler, Request, Response } from 'express';

import type { InflightRegistry } from '../edge/inflight.js';
import type { StateLogger } from '../state/state-logger.js';
import { wireEventId } from './event-frame.js';
import { createResumeHandler, serveResume, type ResumeTarget } from './resume-handler.js';
import type { StreamBuffer } from './stream-buffer.js';
import { StreamBufferFull, StreamsFull } from './stream-errors.js';
import type { StreamsConfig } from './streams-schema.js';

export { formatEvent, parseEventId, wireEventId, writeFrame, type ResumePoint } from './event-frame.js';
export { lastEventIdOf, STREAM_ID_HEADER, type ResumeTarget } from './resume-handler.js';

/** Request header by which an app asks for a resumable stream. */
export const RESUMABLE_HEADER = 'x-router-resumable';

/** The request asked for a resumable stream, or its route makes every stream resumable. */
export function wantsResumable(headers: IncomingHttpHeaders, routeResumable = false): boolean {
  const v = headers[RESUMABLE_HEADER];
  if (typeof v === 'string') return v.trim().toLowerCase() === 'true';
  return routeResumable;
}

/** One stream being produced, as the chat handler drives it. */
export interface ResumableStream {
  readonly id: string;
  /**
   * Buffers one SSE payload and resolves to the event id to send with it (`<streamId>.<seq>`),
   * or undefined when it was not buffered (buffer full or failing, or after `end`): send it
   * without an id. Writes are buffered in call order even when not awaited.
   */
  write(data: string): Promise<string | undefined>;
  /** The stream is over (call after writing `[DONE]`): its ttl starts, timers stop. Idempotent. */
  end(): Promise<void>;
  /** A client reads the stream (cancels the detach timer). */
  attach(): void;
  /** A client left: with nobody attached, the detach timer starts. */
  detach(): void;
}

export interface ResumableStreams {
  /** Starts a resumable stream of `owner` (identity keyId); the app that asked is attached. */
  begin(owner: string, abortUpstream: () => void): Promise<ResumableStream>;
  /** `GET /v1/chat/completions/streams/:id`, to mount behind client auth. */
  resumeHandler(): RequestHandler;
  /** Serves a resume from another route (a chat re-POST whose `Last-Event-ID` names a stream). */
  serveResume(req: Request, res: Response, target: ResumeTarget): Promise<void>;
  /** Streams in progress on this instance. */
  active(): number;
  /** Stops every detach timer (the streams themselves end with their handlers). */
  close(): void;
}

export interface ResumableStreamsDeps {
  buffer: StreamBuffer;
  cfg: StreamsConfig;
  logger: StateLogger;
  /** Requests in flight, for the shutdown drain (resume requests register there). */
  inflight?: InflightRegistry;
}

interface Producing extends ResumableStream {
  stopTimer(): void;
}

export function createResumableStreams(deps: ResumableStreamsDeps): ResumableStreams {
  const { buffer, cfg, logger } = deps;
  const live = new Map<string, Producing>();
  let opening = 0;
  let closed = false;

  const produce = (id: string, abortUpstream: () => void): Producing => {
    let attached = 1;
    let timer: NodeJS.Timeout | undefined;
    let ending: Promise<void> | undefined;
    let buffering = true;
    let aborted = false;
    let tail: Promise<unknown> = Promise.resolve();

    const stopTimer = () => {
      clearTimeout(timer);
      timer = undefined;
    };
    const abort = () => {
      if (aborted || ending) return;
      aborted = true;
      logger.info({ stream: id }, 'resumable stream: no client attached, upstream aborted');
      try {
        abortUpstream();
      } catch (err) {
        logger.warn({ stream: id, err: (err as Error).message }, 'resumable stream: abortUpstream threw');
      }
    };
    const fire = async () => {
      timer = undefined;
      if (ending || attached > 0) return;
      // A resume served by another instance attaches there, not here: ask the buffer.
      const elsewhere = await buffer.hasReader(id).catch(() => false);
      if (ending || attached > 0) return;
      if (elsewhere && buffering) arm();
      else abort();
    };
    const arm = () => {
      if (timer || aborted || ending || closed) return;
      timer = setTimeout(() => void fire(), buffering ? cfg.detachedTimeoutMs : 0);
      timer.unref();
    };

    return {
      id,
      stopTimer,
      write(data) {
        if (ending) return Promise.resolve(undefined);
        const p = tail.then(async () => {
          if (!buffering) return undefined;
          try {
            return wireEventId(id, await buffer.append(id, data));
          } catch (err) {
            buffering = false;
            if (err instanceof StreamBufferFull) logger.info({ stream: id, maxStreamBytes: cfg.maxStreamBytes }, 'resumable stream: buffer full, no longer resumable past this point');
            else logger.warn({ stream: id, err: (err as Error).message }, 'resumable stream: buffer failed, no longer resumable past this point');
            if (attached === 0) {
              // Nobody can reach the rest any more: no reason to wait for a resume.
              stopTimer();
              arm();
            }
            return undefined;
          }
        });
        tail = p;
        return p;
      },
      end() {
        if (ending) return ending;
        stopTimer();
        live.delete(id);
        // After the writes already made: the end is the buffer's last word on the stream.
        ending = tail.then(() =>
          buffer.end(id).catch((err: unknown) => {
            logger.warn({ stream: id, err: (err as Error).message }, 'resumable stream: end not recorded; the buffer expires on its own');
          }),
        );
        return ending;
      },
      attach() {
        if (ending) return;
        attached++;
        stopTimer();
      },
      detach() {
        if (ending) return;
        attached = Math.max(0, attached - 1);
        if (attached === 0) arm();
      },
    };
  };

  const resumeDeps = { buffer, logger, inflight: deps.inflight, local: (id: string) => live.get(id) };

  return {
    async begin(owner, abortUpstream) {
      if (closed) throw new StreamsFull('resumable streams closed');
      // Counted before the await, so concurrent begins cannot pass the bound together.
      if (live.size + opening >= cfg.maxStreams) throw new StreamsFull();
      opening++;
      let id: string;
      try {
        ({ id } = await buffer.open(owner));
      } finally {
        opening--;
      }
      const stream = produce(id, abortUpstream);
      live.set(id, stream);
      return stream;
    },
    resumeHandler: () => createResumeHandler(resumeDeps),
    serveResume: (req, res, target) => serveResume(resumeDeps, req, res, target),
    active: () => live.size,
    close() {
      closed = true;
      for (const s of live.values()) s.stopTimer();
    },
  };
}
