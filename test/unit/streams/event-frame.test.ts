import { describe, expect, it } from 'vitest';

import { formatEvent, parseEventId, wireEventId } from '../../../src/streams/event-frame.js';
import { isStreamId, newStreamId } from '../../../src/streams/stream-ids.js';
import { streamsSchema } from '../../../src/streams/streams-schema.js';

describe('event frames and ids', () => {
  it('formats an event with and without an id line', () => {
    expect(formatEvent('strm_x.3', '{"a":1}')).toBe('id: strm_x.3\ndata: {"a":1}\n\n');
    expect(formatEvent(undefined, '[DONE]')).toBe('data: [DONE]\n\n');
  });

  it('makes unguessable stream ids', () => {
    const ids = new Set(Array.from({ length: 1_000 }, newStreamId));
    expect(ids.size).toBe(1_000);
    for (const id of ids) expect(isStreamId(id)).toBe(true);
  });

  it('parses the event ids it sends, and bare sequence numbers', () => {
    const id = newStreamId();
    expect(parseEventId(wireEventId(id, '7'))).toEqual({ streamId: id, afterId: '7' });
    expect(parseEventId(' 12 ')).toEqual({ afterId: '12' });
    expect(parseEventId('0')).toEqual({ afterId: '0' });
    for (const bad of ['', 'x', '-1', '1.5', '07', `${id}.`, `${id}.x`, 'strm_short.3', `${id}.1.2`]) expect(parseEventId(bad), bad).toBeUndefined();
  });
});

describe('streams schema', () => {
  it('has the documented defaults', () => {
    expect(streamsSchema.parse({})).toEqual({
      maxStreamBytes: 4 * 1024 ** 2,
      ttlMs: 300_000,
      detachedTimeoutMs: 60_000,
      maxStreams: 1_000,
      maxBufferedBytes: 256 * 1024 ** 2,
    });
  });

  it('takes sizes as strings and refuses unknown fields', () => {
    expect(streamsSchema.parse({ maxStreamBytes: '1mb' }).maxStreamBytes).toBe(1024 ** 2);
    expect(() => streamsSchema.parse({ ttl: 5 })).toThrow();
    expect(() => streamsSchema.parse({ maxStreams: 0 })).toThrow();
  });
});
