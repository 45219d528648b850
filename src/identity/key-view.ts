import type { KeyRecord } from '../state/types.js';

/** A key's state at a given time. */
export type KeyStatus = 'active' | 'revoked' | 'expired';

/**
 * What the admin API shows of a key: everything but the hashes. Secrets appear only as their
 * visible prefix and dates, so a listing can be pasted into a ticket safely.
 */
export interface KeyView {
  id: string;
  name: string;
  team?: string;
  routes?: string[];
  limits?: KeyRecord['limits'];
  budget?: KeyRecord['budget'];
  metadata?: Record<string, string>;
  createdAt: string;
  expiresAt?: string;
  revokedAt?: string;
  source: KeyRecord['source'];
  status: KeyStatus;
  /** Visible prefix of the current secret ("" when a config key's secret is unset or given as a hash). */
  prefix: string;
  /** Current secret first, then those still in a rotation's grace period. */
  secrets: Array<{ prefix: string; createdAt: string; expiresAt?: string }>;
}

/** The status of `record` at `nowMs`: revocation wins over expiry. */
export function keyStatus(record: KeyRecord, nowMs: number): KeyStatus {
  if (record.revokedAt !== undefined) return 'revoked';
  if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= nowMs) return 'expired';
  return 'active';
}

import { secretLive } from '../state/key-record.js';

export { secretLive };

/** The public view of a record; secrets past their grace are left out. Fields are listed one by one so a field added to KeyRecord is never shown by accident. */
export function toKeyView(record: KeyRecord, nowMs: number): KeyView {
  const secrets = record.secrets.filter((s) => secretLive(s, nowMs)).map((s) => ({ prefix: s.prefix, createdAt: s.createdAt, ...(s.expiresAt !== undefined ? { expiresAt: s.expiresAt } : {}) }));
  return {
    id: record.id,
    name: record.name,
    ...(record.team !== undefined ? { team: record.team } : {}),
    ...(record.routes !== undefined ? { routes: [...record.routes] } : {}),
    ...(record.limits !== undefined ? { limits: { ...record.limits } } : {}),
    ...(record.budget !== undefined ? { budget: { ...record.budget } } : {}),
    ...(record.metadata !== undefined ? { metadata: { ...record.metadata } } : {}),
    createdAt: record.createdAt,
    ...(record.expiresAt !== undefined ? { expiresAt: record.expiresAt } : {}),
    ...(record.revokedAt !== undefined ? { revokedAt: record.revokedAt } : {}),
    source: record.source,
    status: keyStatus(record, nowMs),
    prefix: secrets[0]?.prefix ?? '',
    secrets,
  };
}
