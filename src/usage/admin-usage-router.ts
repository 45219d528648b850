import express, { type Request, type Response } from 'express';
import { StateUnavailableError, type UsageQuery, type UsageRecord, type UsageSink } from '../state/types.js';
import { matchesUsage } from '../state/usage-match.js';
import { UsageAggregator, type UsageRow } from './usage-aggregate.js';
import { parseUsageQuery, UsageQueryError, type GroupDimension, type UsageReportQuery } from './usage-query.js';

/** Most records one report reads (its memory and time are bounded by this). */
export const DEFAULT_MAX_SCAN = 1_000_000;
/** Reports computed at once; more get 429 (each may read up to `maxScan` records). */
export const DEFAULT_MAX_CONCURRENT = 2;

export interface AdminUsageRouterOptions {
  /**
   * The usage sink in force (a getter: a config reload may replace the state backend);
   * undefined while the state backend is still opening (the answer is then 503 starting).
   */
  usage: () => UsageSink | undefined;
  /** Most records one report reads; past it the report says `truncated: true`. Default 1 000 000. */
  maxScan?: number;
  /** Reports computed at once. Default 2. */
  maxConcurrent?: number;
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /** Where an unexpected failure is logged (the client gets a generic 500). */
  logger?: { error(obj: object, msg: string): void };
}

/** The JSON answer of GET /usage. */
export interface UsageReport {
  object: 'usage.report';
  from: string;
  to: string;
  groupBy: GroupDimension[];
  filters: UsageReportQuery['filters'];
  /** Records read (matching the filters). */
  scanned: number;
  /** True when the scan stopped at the bound: later records of the range are not counted. */
  truncated: boolean;
  /** With truncated: what was left out and what to do. */
  note?: string;
  data: UsageRow[];
  totals: Omit<UsageRow, 'group'>;
}

const send = (res: Response, status: number, message: string, param: string | null, code: string, type = 'invalid_request_error') =>
  void res.status(status).json({ error: { message, type, param, code } });

/** A CSV cell: quoted when needed; text that a spreadsheet would run as a formula is defused with a leading quote. */
function cell(v: string | number | null): string {
  if (v === null) return '';
  // Plain decimals (a spreadsheet or a script may not read 1e-9); at most 9 places (nano-dollars).
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(9).replace(/0+$/, '');
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

const CSV_COLUMNS = [
  'requests',
  'prompt_tokens',
  'completion_tokens',
  'cached_prompt_tokens',
  'reasoning_tokens',
  'cost_usd',
  'cost_unknown_requests',
  'errors',
  'latency_p50_ms',
  'latency_p99_ms',
  'ttft_p50_ms',
  'ttft_p99_ms',
];

/** The report as CSV: one line per row (group columns first), no totals line. */
export function toCsv(report: UsageReport): string {
  const lines = [[...report.groupBy, ...CSV_COLUMNS].join(',')];
  for (const r of report.data) {
    const values: Array<string | number | null> = [
      ...report.groupBy.map((d) => r.group[d] ?? null),
      r.requests,
      r.tokens.prompt,
      r.tokens.completion,
      r.tokens.cachedPrompt,
      r.tokens.reasoning,
      r.costUsd,
      r.costUnknownRequests,
      r.errors,
      r.latencyMs.p50,
      r.latencyMs.p99,
      r.ttftMs.p50,
      r.ttftMs.p99,
    ];
    lines.push(values.map(cell).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Whether a record passes the filters the usage sink does not know (provider, model). */
function matchesRest(q: UsageReportQuery, r: UsageRecord): boolean {
  if (q.filters.provider !== undefined && r.provider !== q.filters.provider) return false;
  if (q.filters.model !== undefined && r.model !== q.filters.model) return false;
  return true;
}

/**
 * Reads the records of a report (at most `maxScan`) and aggregates them. `gone()` is asked as
 * it goes: a client that went away stops the scan.
 */
export async function buildUsageReport(sink: UsageSink, q: UsageReportQuery, maxScan: number, gone: () => boolean = () => false): Promise<UsageReport | undefined> {
  const sinkQuery: UsageQuery = { key: q.filters.key, team: q.filters.team, route: q.filters.route, from: q.from, to: q.to };
  const agg = new UsageAggregator(q.groupBy);
  let scanned = 0;
  let truncated = false;
  let lastTime: string | undefined;
  for await (const r of sink.query(sinkQuery, maxScan + 1)) {
    if (scanned >= maxScan) {
      truncated = true;
      break;
    }
    scanned++;
    lastTime = r.time;
    if ((scanned & 1023) === 0 && gone()) return undefined;
    // The sink filters too; checked again so a sink that filters loosely cannot widen a report.
    if (!matchesUsage(sinkQuery, r) || !matchesRest(q, r)) continue;
    agg.add(r);
  }
  const { rows, totals } = agg.result();
  return {
    object: 'usage.report',
    from: q.from.toISOString(),
    to: q.to.toISOString(),
    groupBy: q.groupBy,
    filters: q.filters,
    scanned,
    truncated,
    ...(truncated
      ? { note: `Stopped after reading ${maxScan} records (the last one of ${lastTime ?? 'unknown time'}); later records of the range are not counted. Narrow the range or the filters.` }
      : {}),
    data: rows,
    totals,
  };
}

/**
 * Usage reports, mounted by the app under /admin behind the admin key:
 *
 *   GET /usage?key=&team=&route=&provider=&model=&from=&to=&groupBy=&format=
 *
 * Filters are exact matches; `from` (inclusive) and `to` (exclusive) are ISO 8601 times, dates
 * (UTC), `now`, or relative (`-24h`, `-7d`); defaults: the last 24 hours. `groupBy` is a comma
 * list of key, team, route, provider, model, day, hour, outcome (default key; `none` for the
 * totals only). Rows are sorted by cost, highest first. `format=csv` answers text/csv.
 * A bad parameter is a 400 in OpenAI's error shape naming it in `param`.
 */
export function createAdminUsageRouter(opts: AdminUsageRouterOptions): express.Router {
  const router = express.Router();
  const maxScan = opts.maxScan ?? DEFAULT_MAX_SCAN;
  const maxConcurrent = opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  const now = opts.now ?? Date.now;
  let running = 0;

  router.get('/usage', async (req: Request, res: Response) => {
    let q: UsageReportQuery;
    try {
      q = parseUsageQuery(req.query as Record<string, unknown>, now());
    } catch (err) {
      if (err instanceof UsageQueryError) return send(res, 400, err.message, err.param, 'invalid_value');
      throw err;
    }
    if (running >= maxConcurrent) {
      res.setHeader('retry-after', '1');
      return send(res, 429, `At most ${maxConcurrent} usage reports are computed at once; retry shortly.`, null, 'too_many_reports', 'rate_limit_error');
    }
    const sink = opts.usage();
    if (!sink) {
      res.setHeader('retry-after', '1');
      return send(res, 503, 'The router is starting; retry shortly.', null, 'starting', 'service_unavailable');
    }
    running++;
    try {
      const report = await buildUsageReport(sink, q, maxScan, () => req.socket.destroyed);
      if (!report) return; // the client went away
      res.setHeader('cache-control', 'no-store');
      if (q.format === 'csv') {
        res.setHeader('x-usage-scanned', String(report.scanned));
        res.setHeader('x-usage-truncated', String(report.truncated));
        res.type('text/csv; charset=utf-8').send(toCsv(report));
      } else {
        res.json(report);
      }
    } catch (err) {
      if (err instanceof StateUnavailableError) return send(res, 503, 'The usage store is unavailable; retry shortly.', null, 'state_unavailable', 'service_unavailable');
      opts.logger?.error({ err: (err as Error)?.message }, 'usage report failed');
      send(res, 500, 'The router failed to process the request.', null, 'internal_error', 'server_error');
    } finally {
      running--;
    }
  });

  return router;
}
