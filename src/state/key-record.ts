import { z } from 'zod';

import type { KeyRecord } from './types.js';

const secretSchema = z.looseObject({
  hash: z.string().min(1),
  prefix: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
});

/**
 * Shape check of a stored key record (a file on disk, JSON in Redis). Loose: fields a newer
 * router added are kept, so an older one reading the store does not strip them on rewrite.
 */
export const keyRecordSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string(),
  team: z.string().optional(),
  routes: z.array(z.string()).optional(),
  limits: z.looseObject({ rpm: z.number().optional(), tpm: z.number().optional(), maxInFlight: z.number().optional() }).optional(),
  budget: z.looseObject({ amountUsd: z.number(), period: z.enum(['day', 'month', 'total']), softRatio: z.number().optional() }).optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
  revokedAt: z.string().optional(),
  secrets: z.array(secretSchema),
  source: z.enum(['config', 'api']),
});

/** Parses a stored record, or throws a zod error naming the bad field. */
export function parseKeyRecord(value: unknown): KeyRecord {
  return keyRecordSchema.parse(value) as KeyRecord;
}

/**
 * Whether `record` holds a usable secret with this hash: the current one, or an older one
 * whose grace period (expiresAt) has not ended. A key's own expiry and revocation are the
 * caller's to judge (it answers differently for them); a rotated-out secret simply no longer exists.
 */
export function holdsLiveSecret(record: KeyRecord, hash: string, nowMs: number): boolean {
  return record.secrets.some((s) => s.hash === hash && secretLive(s, nowMs));
}

/** Whether a secret entry still works at `nowMs` (the current one, or an old one inside its grace). */
export function secretLive(s: KeyRecord['secrets'][number], nowMs: number): boolean {
  return s.expiresAt === undefined || Date.parse(s.expiresAt) > nowMs;
}
