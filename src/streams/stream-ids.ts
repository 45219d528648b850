/** Ids of resumable streams and of their events. */
import { randomBytes } from 'node:crypto';

/** The payload that ends every stream. */
export const DONE = '[DONE]';

const STREAM_ID = /^strm_[A-Za-z0-9_-]{16,64}$/;
const SEQ = /^(0|[1-9][0-9]{0,14})$/;

/**
 * A new stream id: 128 random bits, so an id cannot be guessed. With no client auth every
 * caller is the same anonymous owner, and the id is then all that guards a stream.
 */
export function newStreamId(): string {
  return `strm_${randomBytes(16).toString('base64url')}`;
}

export function isStreamId(id: string): boolean {
  return STREAM_ID.test(id);
}

/** An event id of a buffer ("0" = before the first event) as a number; undefined when malformed. */
export function parseSeq(id: string): number | undefined {
  return SEQ.test(id) ? Number(id) : undefined;
}

/**
 * The position a reader starts after: 0 for undefined (the start).
 * Throws a RangeError on a malformed id (callers validate what a client sent first).
 */
export function startAfter(afterId: string | undefined): number {
  if (afterId === undefined) return 0;
  const seq = parseSeq(afterId);
  if (seq === undefined) throw new RangeError(`malformed event id: ${JSON.stringify(afterId)}`);
  return seq;
}
