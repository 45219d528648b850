import { ServerResponse } from 'node:http';

/** Resolves when a backed-up socket has drained, or closed. */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Text written in this turn of the event loop and not yet handed to the socket (real responses only). */
const PENDING = Symbol('sse.pending');
/** The response's own `end` (node's, or whatever a middleware put in its place), called after the flush. */
const OWN_END = Symbol('sse.end');
type Coalescing = ServerResponse & { [PENDING]?: string; [OWN_END]?: ServerResponse['end'] };

/** Hands the turn's text to the socket: one `res.write`, so one chunk of the chunked body, for every event of the turn. */
function flush(res: Coalescing): void {
  const text = res[PENDING];
  if (text === undefined) return;
  res[PENDING] = undefined;
  if (!res.destroyed && !res.writableEnded) res.write(text);
}

/** `res.end` of a response with text pending: the text goes first (an end in the same turn as the last event loses nothing). */
function endAfterPending(this: Coalescing, ...args: Parameters<ServerResponse['end']>): ServerResponse {
  flush(this);
  return this[OWN_END]!.apply(this, args);
}

/**
 * Writes SSE text (whole frames). A promise only when the socket is backed up (it resolves once
 * drained): the common write costs no promise and no microtask per event.
 *
 * Events produced in one turn of the event loop (an upstream packet often carries several)
 * leave in one write at the end of the turn, so a token still goes out in the turn it came: one
 * string, one chunk of the chunked body, instead of a `res.write` (three buffers: size line,
 * data, CRLF) per event. The response's `end` flushes first. A response that is not node's (the
 * in-process one the adapter endpoints run the chat handler on) is written through at once:
 * it hands each event on as it is written.
 */
export function writeSse(res: ServerResponse, text: string): Promise<void> | undefined {
  if (res.destroyed || res.writableEnded) return undefined;
  if (!(res instanceof ServerResponse)) return (res as ServerResponse).write(text) ? undefined : drained(res);
  const c = res as Coalescing;
  const pending = c[PENDING];
  if (pending === undefined) {
    c[PENDING] = text;
    if (c[OWN_END] === undefined) {
      c[OWN_END] = c.end;
      c.end = endAfterPending as ServerResponse['end'];
    }
    process.nextTick(flush, c);
  } else {
    c[PENDING] = pending + text;
  }
  // The socket backed up by an earlier turn's write: wait for it before producing more.
  return res.writableNeedDrain ? drained(res) : undefined;
}

/** Writes one data-only SSE event. */
export function writeEvent(res: ServerResponse, data: string): Promise<void> | undefined {
  return writeSse(res, `data: ${data}\n\n`);
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // No `connection: keep-alive`: HTTP/1.1 keeps connections by default, and a fixed header here
  // would override the `Connection: close` a draining server sets.
  // Tells nginx-style proxies not to buffer the stream.
  'x-accel-buffering': 'no',
} as const;
