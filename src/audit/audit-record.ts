import { RESERVED_KEYS } from './audit-chain.js';

/**
 * The JSON body of a record as it will be written: `ts` (ISO time, first) when the record has
 * none, the chain's own keys (`seq`, `prev`) left out, serialised now so a caller mutating the
 * object afterwards changes nothing. Throws when it does not serialise to a JSON object
 * (a BigInt, a cycle, a `toJSON` returning something else).
 */
export function encodeRecord(record: Record<string, unknown>, iso: string): { body: string; stripped: boolean } {
  // `ts` is defined first, so it keeps the first place even when the record's own value wins.
  const fields: Record<string, unknown> = { ts: iso, ...record };
  if (fields.ts === undefined) fields.ts = iso;
  let stripped = false;
  for (const key of RESERVED_KEYS) {
    if (Object.hasOwn(fields, key)) {
      delete fields[key];
      stripped = true;
    }
  }
  const body: unknown = JSON.stringify(fields);
  if (typeof body !== 'string' || !body.startsWith('{')) throw new TypeError('audit record does not serialise to a JSON object');
  return { body, stripped };
}

/** The body of a record the log writes itself (`audit_dropped`, `chain_restart`). */
export function syntheticBody(type: string, iso: string, fields: Record<string, unknown>): string {
  return JSON.stringify({ ts: iso, type, ...fields });
}
