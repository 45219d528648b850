/**
 * Conversation sessions: the contract (session-types.ts) and its two implementations, bounded
 * memory (memory-session-store.ts, the default) and Redis (redis-session-store.ts), each in
 * its own file; this module is the one to import.
 */
export * from './session-types.js';
export { createMemorySessionStore, type MemorySessionStoreOptions } from './memory-session-store.js';
export { createRedisSessionStore, type RedisSessionStoreOptions } from './redis-session-store.js';
export { CorruptSession } from './session-codec.js';
