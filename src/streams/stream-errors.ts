/** The errors of resumable streams, each with a `code` a caller can branch on. */

/** A stream's buffer reached `maxStreamBytes` (or the instance's `maxBufferedBytes`): the event was not buffered. */
export class StreamBufferFull extends Error {
  readonly code = 'stream_buffer_full';
  constructor(readonly streamId: string) {
    super(`stream ${streamId}: resume buffer full`);
    this.name = 'StreamBufferFull';
  }
}

/** This instance already runs `maxStreams` resumable streams (or resume readers): serve this one as a plain stream. */
export class StreamsFull extends Error {
  readonly code = 'streams_full';
  constructor(message = 'too many resumable streams in progress') {
    super(message);
    this.name = 'StreamsFull';
  }
}

/** An append or end to a stream that is unknown, expired or already ended: a producer bug or a lost buffer. */
export class StreamNotWritable extends Error {
  readonly code = 'stream_not_writable';
  constructor(readonly streamId: string, why: 'missing' | 'ended') {
    super(`stream ${streamId}: ${why === 'missing' ? 'unknown or expired' : 'already ended'}`);
    this.name = 'StreamNotWritable';
  }
}

/**
 * The data of the event a buffer seals a full stream with (then `[DONE]`), so a client that
 * resumes learns why its stream stops there instead of waiting for events that never come.
 */
export const BUFFER_FULL_EVENT = JSON.stringify({
  error: {
    message: 'The stream outgrew its resume buffer: the events after this point cannot be replayed. Retry the request to get the whole answer.',
    type: 'server_error',
    param: null,
    code: 'stream_buffer_full',
  },
});
