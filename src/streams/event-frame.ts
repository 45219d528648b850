/**
 * SSE frames with an `id:` line, and the event ids a client sees: `<streamId>.<seq>`. The
 * stream id inside the event id lets a client that only knows `Last-Event-ID` (an EventSource,
 * or a fetch-based client re-POSTing the same request) resume: the id alone says which stream.
 */
import type { ServerResponse } from 'node:http';
import { writeSse } from '../edge/sse.js';

import { isStreamId, parseSeq } from './stream-ids.js';

/** One SSE event; without an id (the event was not buffered) the client's last id stays as it was. */
export function formatEvent(id: string | undefined, data: string): string {
  return id === undefined ? `data: ${data}\n\n` : `id: ${id}\ndata: ${data}\n\n`;
}

/** The id a client sees for the buffer's event `seq` of `streamId`. */
export function wireEventId(streamId: string, seq: string): string {
  return `${streamId}.${seq}`;
}

/** Where a client asks to resume: the stream (when its event id names one) and the event to start after. */
export interface ResumePoint {
  streamId?: string;
  /** A buffer event id ("0": from the start). */
  afterId: string;
}

/** Parses a `Last-Event-ID` (`strm_….7`, or a bare `7`); undefined when malformed. */
export function parseEventId(value: string): ResumePoint | undefined {
  const v = value.trim();
  const dot = v.lastIndexOf('.');
  const seq = dot < 0 ? v : v.slice(dot + 1);
  if (parseSeq(seq) === undefined) return undefined;
  if (dot < 0) return { afterId: seq };
  const streamId = v.slice(0, dot);
  return isStreamId(streamId) ? { streamId, afterId: seq } : undefined;
}

/** Writes one frame (an SSE event with its id line), waiting for the socket to drain when it is backed up. */
export const writeFrame = (res: ServerResponse, frame: string): Promise<void> | undefined => writeSse(res, frame);
