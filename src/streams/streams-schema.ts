/** Config of resumable streams: the global `streams` section and the per-route switch. */
import { z } from 'zod';

import { byteSize } from '../../providers/shared/options.js';

/** A route's `resumable` setting: its streams are resumable without the request asking. */
export const routeResumableSchema = z
  .boolean()
  .default(false)
  .describe('Make every stream of this route resumable (event ids, a buffer, reconnect with Last-Event-ID), as if each request sent x-router-resumable: true.');

/** The global `streams` section: bounds of the resume buffers. */
export const streamsSchema = z.strictObject({
  /** Events one stream may buffer; past it the stream goes on but cannot be resumed past that point. */
  maxStreamBytes: byteSize()
    .default(4 * 1024 ** 2)
    .describe('Largest buffer of one resumable stream (its events\' data), e.g. "4mb". Past it the stream goes on to the client attached, but a client that resumes gets the events up to that point and then a stream_buffer_full error event.'),
  /** How long a finished stream stays resumable. */
  ttlMs: z
    .number()
    .int()
    .positive()
    .default(5 * 60_000)
    .describe('How long a finished stream\'s events are kept for a client to resume, in milliseconds after its end; then they are deleted.'),
  /** How long the upstream call goes on with no client attached. */
  detachedTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(60_000)
    .describe('How long the upstream call of a resumable stream keeps running with no client attached (the app disconnected and has not resumed), in milliseconds; then it is aborted and the stream ends with an error event.'),
  /** Resumable streams in progress on one instance. */
  maxStreams: z
    .number()
    .int()
    .positive()
    .default(1_000)
    .describe('Most resumable streams in progress at once on one router instance (also the most resume readers waiting on Redis); beyond it a stream that asked to be resumable is served as a plain stream (no x-router-stream-id).'),
  /** Memory all buffers of the in-process backend may hold. */
  maxBufferedBytes: byteSize()
    .default(256 * 1024 ** 2)
    .describe('Memory the in-process buffers may hold in all, e.g. "256mb" (finished streams are dropped oldest first past it, before their ttl). Not used with state.backend redis (keys expire by ttl; Redis\'s maxmemory applies).'),
});

/** The parsed `streams` section. */
export type StreamsConfig = z.output<typeof streamsSchema>;
