import type { UsageQuery, UsageRecord } from './types.js';

/** Default `limit` of a usage query: enough for an admin page, bounded so one call cannot read a whole ledger into memory. */
export const DEFAULT_USAGE_QUERY_LIMIT = 10_000;

/** Whether a record matches a query; `from` is inclusive, `to` exclusive (so consecutive ranges never count a record twice). */
export function matchesUsage(q: UsageQuery, r: UsageRecord): boolean {
  if (q.key !== undefined && r.keyId !== q.key) return false;
  if (q.team !== undefined && r.team !== q.team) return false;
  if (q.route !== undefined && r.route !== q.route) return false;
  if (q.from || q.to) {
    const t = Date.parse(r.time);
    if (Number.isNaN(t)) return false;
    if (q.from && t < q.from.getTime()) return false;
    if (q.to && t >= q.to.getTime()) return false;
  }
  return true;
}
