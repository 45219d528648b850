import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createFastLane, parseJsonBody } from '../../../src/edge/fast-lane.js';

const lane = () =>
  createFastLane({
    clientAuth: { authenticator: () => undefined, open: () => true },
    bodyLimit: () => '1kb',
    chat: async () => {},
    logger: pino({ level: 'silent' }),
  });

/** A request the lane only looks at (it answers 503 "starting" itself: no authenticator yet). */
function req(method: string, url: string, headers: Record<string, string> = {}): IncomingMessage {
  return { method, url, headers, socket: { destroyed: true, destroy() {} }, on() {}, once() {} } as unknown as IncomingMessage;
}
function res(): ServerResponse {
  return { headersSent: false, setHeader() {}, writeHead() { return this; }, end() {}, once() {} } as unknown as ServerResponse;
}

describe('fast lane', () => {
  it('takes a plain POST /v1/chat/completions and hands everything else to express', () => {
    const f = lane();
    expect(f(req('POST', '/v1/chat/completions'), res())).toBe(true);
    expect(f(req('POST', '/v1/chat/completions', { 'content-type': 'application/json' }), res())).toBe(true);
    expect(f(req('GET', '/v1/chat/completions'), res())).toBe(false);
    expect(f(req('POST', '/v1/chat/completions?x=1'), res())).toBe(false);
    expect(f(req('POST', '/v1/chat/completions/'), res())).toBe(false);
    expect(f(req('POST', '/v1/embeddings'), res())).toBe(false);
    expect(f(req('POST', '/v1/chat/completions', { 'x-router-async': 'true' }), res())).toBe(false);
    expect(f(req('POST', '/v1/chat/completions', { 'last-event-id': 's.1' }), res())).toBe(false);
    expect(f(req('POST', '/v1/chat/completions', { 'content-encoding': 'gzip' }), res())).toBe(false);
    expect(f(req('POST', '/v1/chat/completions', { 'content-encoding': 'identity' }), res())).toBe(true);
    expect(f(req('POST', '/v1/chat/completions', { 'content-type': 'application/json; charset=latin1' }), res())).toBe(false);
  });

  it('parses bodies as body-parser strict JSON does', () => {
    expect(parseJsonBody(Buffer.from(''))).toEqual({});
    expect(parseJsonBody(Buffer.from(' \n{"a":1}'))).toEqual({ a: 1 });
    expect(parseJsonBody(Buffer.from('\ufeff{"a":1}'))).toEqual({ a: 1 });
    expect(parseJsonBody(Buffer.from('[1]'))).toEqual([1]);
    for (const bad of ['"x"', '1', 'null', '   ', '{', '{"a":}']) expect(() => parseJsonBody(Buffer.from(bad)), bad).toThrow(expect.objectContaining({ status: 400 }));
  });
});
