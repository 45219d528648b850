/**
 * The query string of `GET /admin/usage`, parsed strictly: every parameter known, given at most
 * once, within bounds; anything else is a `UsageQueryError` naming the parameter (the router
 * answers 400 with it in `param`).
 */

/** Dimensions a report can be grouped by. */
export const GROUP_DIMENSIONS = ['key', 'team', 'route', 'provider', 'model', 'day', 'hour', 'outcome'] as const;
export type GroupDimension = (typeof GROUP_DIMENSIONS)[number];

export type UsageFormat = 'json' | 'csv';

/** Filters on fields of the record (each an exact match). */
export const FILTER_PARAMS = ['key', 'team', 'route', 'provider', 'model'] as const;
export type FilterParam = (typeof FILTER_PARAMS)[number];

const KNOWN_PARAMS = [...FILTER_PARAMS, 'from', 'to', 'groupBy', 'format'] as const;

/** A parsed, valid report request. */
export interface UsageReportQuery {
  filters: Partial<Record<FilterParam, string>>;
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  /** Empty: one row with the totals (`groupBy=none`). */
  groupBy: GroupDimension[];
  format: UsageFormat;
}

export class UsageQueryError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
    this.name = 'UsageQueryError';
  }
}

/** Default range when `from` is absent: the 24 hours before `to`. */
export const DEFAULT_RANGE_MS = 24 * 3_600_000;
/** Longest filter value taken (ids, team and route names are far shorter). */
const MAX_VALUE_LENGTH = 256;

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const RELATIVE = /^-(\d{1,6})([smhdw])$/;
/** A date, or a date and time with seconds optional, fraction optional, zone required. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** A short, printable rendering of something a client sent, for a message. */
const shown = (s: string): string => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s);

/**
 * A time parameter: an ISO 8601 date (`2026-03-01`, UTC midnight) or date-time with a zone
 * (`2026-03-01T12:00:00Z`, `…+02:00`), `now`, or relative to now: `-<n><unit>` with unit
 * s, m, h, d or w (`-90m`, `-24h`, `-7d`).
 */
export function parseTime(value: string, param: string, nowMs: number): Date {
  if (value === 'now') return new Date(nowMs);
  const rel = RELATIVE.exec(value);
  if (rel) return new Date(nowMs - Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS]);
  const m = ISO.exec(value);
  if (m) {
    const [, y, mo, d, hh, mi, ss, zone] = m;
    const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
    const dateOk = day.getUTCFullYear() === Number(y) && day.getUTCMonth() === Number(mo) - 1 && day.getUTCDate() === Number(d);
    const timeOk = hh === undefined || (Number(hh) < 24 && Number(mi) < 60 && (ss === undefined || Number(ss) < 60));
    const zoneOk = zone === undefined || zone === 'Z' || (Number(zone.slice(1, 3)) < 24 && Number(zone.slice(4, 6)) < 60);
    const ms = hh === undefined ? day.getTime() : Date.parse(value);
    if (dateOk && timeOk && zoneOk && Number.isFinite(ms)) return new Date(ms);
  }
  throw new UsageQueryError(
    `Invalid '${param}': ${shown(value)}. Use an ISO 8601 time with a zone (2026-03-01T00:00:00Z), a date (2026-03-01, UTC), 'now', or a relative time such as -24h or -7d (units s, m, h, d, w).`,
    param,
  );
}

/** The group dimensions of `groupBy` (comma-separated; `none` for a single total row). */
export function parseGroupBy(value: string): GroupDimension[] {
  if (value === 'none') return [];
  const parts = value.split(',').map((p) => p.trim());
  const seen = new Set<string>();
  for (const p of parts) {
    if (!p) throw new UsageQueryError(`Invalid 'groupBy': an empty entry in ${shown(value)}. Give a comma-separated list of ${GROUP_DIMENSIONS.join(', ')} (or none).`, 'groupBy');
    if (!(GROUP_DIMENSIONS as readonly string[]).includes(p)) {
      throw new UsageQueryError(`Invalid 'groupBy': ${shown(p)} is not a dimension; use a comma-separated list of ${GROUP_DIMENSIONS.join(', ')} (or none).`, 'groupBy');
    }
    if (seen.has(p)) throw new UsageQueryError(`Invalid 'groupBy': ${shown(p)} is given twice.`, 'groupBy');
    seen.add(p);
  }
  return parts as GroupDimension[];
}

/**
 * Parses a request's query object (Express's `req.query`: strings, or arrays for repeated
 * parameters). Throws UsageQueryError naming the first bad parameter.
 */
export function parseUsageQuery(query: Record<string, unknown>, nowMs: number): UsageReportQuery {
  const values: Record<string, string> = {};
  for (const [name, raw] of Object.entries(query)) {
    if (!(KNOWN_PARAMS as readonly string[]).includes(name)) {
      const safe = name.length > 100 ? `${name.slice(0, 100)}…` : name;
      throw new UsageQueryError(`Unknown query parameter ${shown(name)}; known: ${KNOWN_PARAMS.join(', ')}.`, safe);
    }
    if (typeof raw !== 'string') throw new UsageQueryError(`Query parameter '${name}' must be given once, as a plain value.`, name);
    values[name] = raw;
  }

  const filters: UsageReportQuery['filters'] = {};
  for (const name of FILTER_PARAMS) {
    const v = values[name];
    if (v === undefined) continue;
    if (v.length === 0) throw new UsageQueryError(`Query parameter '${name}' must not be empty (leave it out to match every ${name}).`, name);
    if (v.length > MAX_VALUE_LENGTH) throw new UsageQueryError(`Query parameter '${name}' is longer than ${MAX_VALUE_LENGTH} characters.`, name);
    filters[name] = v;
  }

  const to = values.to !== undefined ? parseTime(values.to, 'to', nowMs) : new Date(nowMs);
  const from = values.from !== undefined ? parseTime(values.from, 'from', nowMs) : new Date(to.getTime() - DEFAULT_RANGE_MS);
  if (from.getTime() >= to.getTime()) {
    throw new UsageQueryError(`'from' (${from.toISOString()}) must be before 'to' (${to.toISOString()}).`, values.from !== undefined ? 'from' : 'to');
  }

  const groupBy = values.groupBy !== undefined ? parseGroupBy(values.groupBy) : (['key'] as GroupDimension[]);
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new UsageQueryError(`Invalid 'format': ${shown(format)}; use json or csv.`, 'format');
  return { filters, from, to, groupBy, format };
}
