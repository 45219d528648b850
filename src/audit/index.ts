export { GENESIS_PREV, sha256Hex } from './audit-chain.js';
export { openAuditLog, type AuditLog, type AuditLogOptions, type AuditStats } from './audit-log.js';
export type { AuditRedisStats } from './audit-redis-sink.js';
export { verifyAuditFiles, type VerifyResult } from './audit-verify.js';
