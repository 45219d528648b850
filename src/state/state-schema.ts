import { z } from 'zod';

/** PEM material for TLS to Redis: PEM text, or the path of a PEM file (read when the backend opens, see redis-tls.ts). */
const tlsObjectSchema = z.strictObject({
  ca: z.string().optional().describe('CA certificate(s) trusted for the Redis server, as PEM text or a PEM file path relative to the config file (default: the system store).'),
  cert: z.string().optional().describe('Client certificate, for servers that require mutual TLS: PEM text or a PEM file path.'),
  key: z.string().optional().describe('Private key of the client certificate: PEM text or a PEM file path.'),
  rejectUnauthorized: z.boolean().default(true).describe('Verify the server certificate; false only for a test server.'),
});

/** Connection to Redis when `backend: redis`. */
export const redisSchema = z.strictObject({
  url: z
    .string()
    .regex(/^rediss?:\/\/.+/, 'must start with redis:// or rediss://')
    .describe('Redis server, redis://host:port[/db] or rediss:// for TLS.'),
  username: z.string().optional().describe('ACL user name (Redis 6+); overrides one in the URL.'),
  password: z.string().optional().describe('Password; overrides one in the URL. Prefer ${ENV} interpolation to a literal.'),
  tls: z
    .union([z.boolean(), tlsObjectSchema])
    .optional()
    .describe('TLS: true for the system trust store, or {ca, cert, key, rejectUnauthorized}; rediss:// turns it on too.'),
  keyPrefix: z
    .string()
    .min(1)
    .default('llm-router:')
    .describe('Prefix of every Redis key and channel this router uses, so several deployments can share one server.'),
  commandTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(500)
    .describe('Longest wait for one state call (one command or script); past it the call fails as unavailable.'),
  connectTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(2_000)
    .describe('Longest wait for a TCP/TLS connection; also how long start-up waits for Redis before going on degraded.'),
  maxQueuedCommands: z
    .number()
    .int()
    .positive()
    .default(1_000)
    .describe('Most state calls waiting for Redis at once; beyond it calls fail at once as unavailable instead of piling up.'),
});

/**
 * The `state` section: where shared state lives. The defaults need no server (memory + files
 * under `dataDir`); `backend: redis` shares keys, limits and usage across router instances.
 */
export const stateSchema = z.strictObject({
  backend: z
    .enum(['memory', 'redis'])
    .default('memory')
    .describe('memory: this process (+ files under dataDir); redis: shared by every router instance using the same Redis and keyPrefix.'),
  dataDir: z
    .string()
    .min(1)
    .default('data')
    .describe('Folder for files that must survive a restart (keys created at run time, the usage ledger); relative to the config file’s folder.'),
  redis: redisSchema.optional().describe('Redis connection; required when backend is redis.'),
  onUnavailable: z
    .enum(['fail-open', 'fail-closed'])
    .default('fail-open')
    .describe('While Redis is unreachable: fail-open limits from local in-memory buckets (per instance); fail-closed refuses requests (503).'),
}).refine((s) => s.backend !== 'redis' || s.redis !== undefined, {
  message: 'state.redis is required when state.backend is redis',
  path: ['redis'],
});

/** The parsed `state` section. */
export type StateConfig = z.output<typeof stateSchema>;
/** The parsed `state.redis` section. */
export type RedisStateConfig = z.output<typeof redisSchema>;
