import { createHash } from 'node:crypto';

/**
 * The hash chain of the audit log. A line is one JSON object on one line:
 *
 *   {"seq":42,"prev":"<64 hex>","ts":"2026-12-02T10:00:00.000Z", ...record fields}
 *
 * `seq` counts lines from 1 across all files; `prev` is the sha256 (hex) of the exact bytes of the
 * previous line (without its "\n"), or `GENESIS_PREV` for line 1. A line's own hash is therefore
 * pinned by the next line. The exact bytes are hashed, so the encoding needs no canonical form:
 * JSON.stringify with keys in insertion order is what is written, and what is hashed.
 */

/** `prev` of the very first line of a chain: sha256("llm-router-audit-genesis"). */
export const GENESIS_PREV = sha256Hex('llm-router-audit-genesis');

/** Keys the chain owns; a record's own fields of these names are not written. */
export const RESERVED_KEYS = ['seq', 'prev'] as const;

/** The chain position after a line: the next line gets `seq + 1` and `prev = hash`. */
export interface ChainHead {
  /** seq of the last line (0 before the first). */
  seq: number;
  /** sha256 hex of the last line, or GENESIS_PREV before the first. */
  hash: string;
}

export const GENESIS_HEAD: ChainHead = { seq: 0, hash: GENESIS_PREV };

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The line for a record body (its JSON, `{...}`) at `seq` after `prev`: the chain fields first,
 * then the body's fields verbatim, so the record is serialised once, at write time.
 */
export function chainLine(seq: number, prev: string, body: string): string {
  const head = `{"seq":${seq},"prev":"${prev}"`;
  return body.length > 2 ? `${head},${body.slice(1)}` : `${head}}`;
}

/** The chain fields of a parsed line, or why it has none. */
export function chainFields(value: unknown): { seq: number; prev: string } | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const { seq, prev } = value as { seq?: unknown; prev?: unknown };
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'missing or invalid "seq"';
  if (typeof prev !== 'string' || !/^[0-9a-f]{64}$/.test(prev)) return 'missing or invalid "prev"';
  return { seq, prev };
}
