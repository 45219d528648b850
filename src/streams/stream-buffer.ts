/**
 * Where a resumable stream's events wait for a client to (re)read them: one interface, an
 * in-process implementation and a Redis one (so a client can resume on another instance).
 *
 * Event ids are the stream's sequence numbers as decimal strings, "1", "2", … in both
 * backends (Redis stores them as stream ids `N-0`), so an id means the same wherever it is read.
 */
export { createMemoryStreamBuffer, type MemoryStreamBuffer } from './memory-stream-buffer.js';
export { createRedisStreamBuffer, type RedisStreamBufferOptions } from './redis-stream-buffer.js';
export { BUFFER_FULL_EVENT, StreamBufferFull, StreamNotWritable, StreamsFull } from './stream-errors.js';
export { DONE } from './stream-ids.js';

export interface StreamEvent {
  /** Its sequence number in the stream, "1" for the first event. */
  id: string;
  /** The SSE data payload: a JSON chunk, an error JSON, or "[DONE]". */
  data: string;
}

export interface StreamBuffer {
  /**
   * Starts a stream owned by `owner` (the identity's keyId); the id is server-generated
   * (`strm_<base64url>`) unless `opts.id` names one (which must not exist yet).
   * Throws StreamsFull when the buffer cannot take another stream.
   */
  open(owner: string, opts?: { id?: string }): Promise<{ id: string }>;
  /**
   * Appends one event and returns its id. Past `maxStreamBytes` it throws StreamBufferFull and
   * seals the stream: a `stream_buffer_full` error event and `[DONE]` are appended (beyond the
   * cap) and every later append throws StreamBufferFull too, so a resumed reader ends there
   * instead of waiting. The live stream itself is the caller's and goes on.
   * Throws StreamNotWritable when the stream is unknown, expired or ended.
   */
  append(streamId: string, data: string): Promise<string>;
  /** The stream ended (after `[DONE]` was appended): its ttl starts. Idempotent; a missing stream is ignored. */
  end(streamId: string): Promise<void>;
  /**
   * The events after `afterId` (undefined or "0": from the start), then live ones until the end;
   * each exactly once, in order. Undefined when the stream is missing, expired or another
   * owner's. The iterator ends after `[DONE]`, when the stream ends or disappears, or when
   * `signal` aborts. Throws a RangeError when `afterId` is not an event id.
   */
  read(streamId: string, owner: string, afterId: string | undefined, signal: AbortSignal): Promise<AsyncIterable<StreamEvent> | undefined>;
  /**
   * Whether a reader is iterating the stream now, on any instance sharing the buffer: the
   * producer asks before it aborts an upstream whose client left.
   */
  hasReader(streamId: string): Promise<boolean>;
  close(): Promise<void>;
}
