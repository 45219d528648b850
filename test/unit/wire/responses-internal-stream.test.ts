import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { runChatInternally, SseDataSplitter, forwardedHeaders } from '../../../src/edge/internal-stream.js';
import { SSE_HEADERS, writeEvent } from '../../../src/edge/sse.js';

const identity = { kind: 'anonymous' as const, keyId: 'anonymous' };

describe('running the chat handler in-process (internal-stream.ts)', () => {
  it('splits SSE text into data payloads across writes', () => {
    const s = new SseDataSplitter();
    expect(s.push('data: {"a"')).toEqual([]);
    expect(s.push(':1}\n\ndata: [DONE]\n\nevent: x\ndata: 2\n')).toEqual(['{"a":1}', '[DONE]']);
    expect(s.push('\n')).toEqual(['2']);
  });

  it('hands each event to the sink as written, holds the handler while the sink is backed up, and exposes the head', async () => {
    const log: string[] = [];
    let release!: () => void;
    const handler = async (_req: Request, res: Response) => {
      res.setHeader('x-router-provider', 'p1');
      res.writeHead(200, SSE_HEADERS);
      await writeEvent(res, '{"n":1}');
      log.push('after 1');
      await writeEvent(res, '{"n":2}');
      log.push('after 2');
      await writeEvent(res, '[DONE]');
      res.end();
    };
    const run = runChatInternally(handler, {}, {
      identity,
      requestId: 'r1',
      signal: new AbortController().signal,
      sink: {
        start: (status, headers) => log.push(`start ${status} ${headers['x-router-provider']}`),
        event(data) {
          log.push(`event ${JSON.stringify(data)}`);
          // The second event backs the socket up: the handler must wait.
          if ((data as { n?: number }).n === 2) return new Promise<void>((r) => (release = r));
        },
      },
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual(['start 200 p1', 'event {"n":1}', 'after 1', 'event {"n":2}']);
    release();
    const result = await run;
    expect(log.slice(4)).toEqual(['after 2', 'event "[DONE]"']);
    expect(result).toMatchObject({ status: 200, streamed: true, finished: true });
  });

  it('captures a JSON answer (status, headers, body) and passes identity, request id and headers', async () => {
    const handler = async (req: Request, res: Response) => {
      res.setHeader('x-router-attempts', '1');
      res.setHeader('retry-after', '2');
      res.status(429).json({ error: { message: 'slow down', who: res.locals.identity, id: res.locals.requestId, cc: req.headers['cache-control'] } });
    };
    const result = await runChatInternally(handler, {}, { identity, requestId: 'r2', signal: new AbortController().signal, headers: { 'cache-control': 'no-cache' } });
    expect(result).toMatchObject({ status: 429, streamed: false, body: { error: { who: identity, id: 'r2', cc: 'no-cache' } } });
    expect(forwardedHeaders(result.headers)).toEqual({ 'x-router-attempts': '1', 'retry-after': '2' });
  });

  it('an abort is the client leaving: the handler sees destroyed and a close', async () => {
    const ctl = new AbortController();
    let closed = false;
    const handler = (_req: Request, res: Response) =>
      new Promise<void>((resolve) => {
        res.on('close', () => {
          closed = res.destroyed && !res.writableFinished;
          resolve();
        });
        res.writeHead(200, SSE_HEADERS);
      });
    const run = runChatInternally(handler, {}, { identity, requestId: 'r3', signal: ctl.signal, sink: { event: () => undefined } });
    ctl.abort();
    const result = await run;
    expect(closed).toBe(true);
    expect(result.finished).toBe(false);
  });
});
