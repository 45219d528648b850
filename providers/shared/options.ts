/** Option fields and helpers every provider kind's options schema shares. */
import { z } from 'zod';

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i;
const UNIT: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** "16mb", "512kb", 1048576: a size in bytes. */
export function parseByteSize(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = SIZE.exec(value.trim())!;
  return Math.floor(Number(m[1]) * UNIT[(m[2] ?? 'b').toLowerCase()]!);
}

/** A byte size given as a number or a string such as "16mb". */
export const byteSize = () =>
  z
    .union([z.number().int().positive(), z.string().regex(SIZE, 'a size such as "16mb", "512kb" or a number of bytes')])
    .transform(parseByteSize);

/** Fields every provider kind takes. */
export const providerBaseOptions = {
  /** Per-call timeout: the whole call for non-streamed answers; for streams, until the first event (after it the route's idleTimeoutMs and maxStreamMs apply). */
  timeoutMs: z.number().int().positive().default(60_000).describe("Per-call timeout in milliseconds, waiting for a pooled socket included: the whole call when not streamed; until the first event when streamed (then the route's idleTimeoutMs and maxStreamMs apply)."),
  /** Turn the provider off without deleting it. */
  enabled: z.boolean().default(true).describe('Turn the provider off without deleting it.'),
};

/** Connection pool of an HTTP upstream (one per provider). */
export const poolOptionsSchema = z
  .strictObject({
    maxSockets: z.number().int().min(1).max(65_536).default(256).describe('Most sockets open at once to this upstream; further calls wait for one (the provider timeout covers the wait).'),
    maxFreeSockets: z.number().int().min(0).max(65_536).default(64).describe('Idle keep-alive sockets kept for reuse.'),
    idleSocketMs: z.number().int().positive().default(30_000).describe('How long an idle keep-alive socket is kept.'),
  })
  .describe('Connection pool to this upstream.');

/** Fields of providers that call an upstream over HTTP (OpenAI, Azure, any OpenAI-compatible server). */
export const upstreamHttpOptions = {
  pool: poolOptionsSchema.prefault({}),
  /** Largest non-streamed answer read from the upstream. */
  maxResponseBytes: byteSize().default(16 * 1024 ** 2).describe('Largest non-streamed upstream answer, e.g. "16mb"; a bigger one fails the call (502 upstream_response_too_large, counted against the target).'),
  /** Largest single line/event of a streamed answer. */
  maxEventBytes: byteSize().default(1024 ** 2).describe('Largest single SSE line or event of a streamed upstream answer, e.g. "1mb"; a bigger one ends the stream as an upstream failure.'),
  /** Extra headers sent on every call. */
  headers: z.record(z.string(), z.string()).optional().describe('Extra headers sent on every upstream call.'),
  /** Context window per model, used to skip targets a request cannot fit. */
  contextLength: z.record(z.string(), z.number().int().positive()).optional().describe('Context window in tokens per model name.'),
};

/** A variable referenced by the config that is unset, at a path inside the provider's options. */
export interface MissingVariable {
  /** Path below the provider's options, e.g. ['apiKeys', 1]. */
  path: Array<string | number>;
  variable: string;
}

/** Own-property lookup in a config record: a client-chosen key never reaches Object.prototype. */
export function ownValue<V>(record: Readonly<Record<string, V>> | undefined, key: string): V | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
