import type { ServerResponse } from 'node:http';

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

/**
 * Writes SSE text (whole frames). A promise only when the socket is backed up (it resolves once
 * drained): the common write costs no promise and no microtask per event.
 */
export function writeSse(res: ServerResponse, text: string): Promise<void> | undefined {
  if (res.destroyed || res.writableEnded) return undefined;
  // Events produced in one turn of the event loop (an upstream packet often carries several)
  // leave in one write: corked until the turn ends, so a token still goes out in the turn it came.
  if (!res.writableCorked) {
    res.cork();
    process.nextTick(() => res.uncork());
  }
  return res.write(text) ? undefined : drained(res);
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
