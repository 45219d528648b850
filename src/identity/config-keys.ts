import type { KeyRecord, KeySecret } from '../state/types.js';
import type { VirtualKeyConfig } from './identity-schema.js';
import { hashKeySecret, visiblePrefix } from './key-secret.js';

/**
 * The store record for a config-declared key. Dates are carried over from the record already
 * stored (when its hash is the same) so a reload that changes nothing writes nothing, and a
 * key's age does not reset on every restart.
 */
export function configKeyRecord(entry: VirtualKeyConfig, serverSecret: string, existing: KeyRecord | undefined, nowIso: string): KeyRecord {
  const secrets: KeySecret[] = [];
  const hash = entry.secret !== undefined ? hashKeySecret(serverSecret, entry.secret) : entry.hash?.slice('hmac-sha256:'.length);
  if (hash !== undefined) {
    const before = existing?.secrets[0];
    secrets.push({
      hash,
      prefix: entry.secret !== undefined ? visiblePrefix(entry.secret) : '',
      createdAt: before && before.hash === hash && before.expiresAt === undefined ? before.createdAt : nowIso,
    });
  }
  return {
    id: entry.id,
    name: entry.name,
    ...(entry.team !== undefined ? { team: entry.team } : {}),
    ...(entry.routes !== undefined ? { routes: [...entry.routes] } : {}),
    ...(entry.limits !== undefined ? { limits: { ...entry.limits } } : {}),
    ...(entry.budget !== undefined ? { budget: { ...entry.budget } } : {}),
    ...(entry.metadata !== undefined ? { metadata: { ...entry.metadata } } : {}),
    createdAt: existing?.source === 'config' && existing.revokedAt === undefined ? existing.createdAt : nowIso,
    ...(entry.expiresAt !== undefined ? { expiresAt: new Date(entry.expiresAt).toISOString() } : {}),
    secrets,
    source: 'config',
  };
}

/** Key order does not matter to equality: records read back from a store may list fields differently. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

/** Whether two records hold the same data (so writing one over the other would change nothing). */
export function sameRecord(a: KeyRecord, b: KeyRecord): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** What a config sync did, for the start/reload log line. */
export interface ConfigSyncReport {
  created: string[];
  updated: string[];
  /** Config keys no longer in the config: deleted from the store (or revoked when it cannot delete). */
  removed: string[];
  unchanged: string[];
  /** Keys that could not be taken as declared (no secret, id taken by an API key). */
  warnings: string[];
}
