import { z } from 'zod';

/**
 * The `sessions` section: conversations the router keeps for apps that send `x-session-id`
 * (or create one with POST /v1/sessions) and then send only the new turn. Stored in memory
 * (bounded) by default, in Redis with `state.backend: redis`.
 */
export const sessionsSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe('Keep conversations for apps that send x-session-id (and serve /v1/sessions); false: the header is ignored and /v1/sessions answers 404.'),
  idleTtlMs: z
    .number()
    .int()
    .positive()
    .default(24 * 60 * 60 * 1000)
    .describe('A session unused (read or written) for this long is gone; every use starts the clock again.'),
  maxSessionBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024)
    .describe('Largest stored conversation (its messages as JSON, in bytes); past it the oldest turns are dropped (the system prompt and tool-call/result pairs are kept together).'),
  maxMessages: z
    .number()
    .int()
    .positive()
    .default(1_000)
    .describe('Most messages one session keeps; past it the oldest turns are dropped, as for maxSessionBytes.'),
  maxSessions: z
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe('Memory backend only: most sessions kept in this process; past it the least recently used one is dropped.'),
  maxTotalBytes: z
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024)
    .describe('Memory backend only: most bytes of conversation kept in this process over all sessions; past it the least recently used sessions are dropped.'),
  maxSessionsPerOwner: z
    .number()
    .int()
    .positive()
    .default(1_000)
    .describe('Most live sessions one caller (virtual key, JWT subject) keeps; creating one more drops that caller\'s least recently used session, so one caller cannot crowd out the others.'),
});

/** The parsed `sessions` section. */
export type SessionsConfig = z.output<typeof sessionsSchema>;
