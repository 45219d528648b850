/** `llm-router usage`: a usage report from /admin/usage as an aligned table (or JSON, or the router's CSV). */
import { ADMIN_OPTIONS, ADMIN_OPTIONS_HELP, createAdminClient, resolveConnection } from '../admin-client.js';
import { printHelp, printJson, printLines, type CliContext } from '../cli-context.js';
import { EXIT, UsageError } from '../cli-errors.js';
import type { Command } from '../command.js';
import { formatCount, formatMs, formatUsd } from '../format.js';
import { HELP_OPTION, parseCommandLine } from '../parse-options.js';
import { formatTable, type Column } from '../table.js';

/** One row of the report, as the router sends it (read loosely). */
export interface UsageRowSummary {
  group?: Record<string, string | null>;
  requests: number;
  tokens?: { prompt?: number; completion?: number; cachedPrompt?: number; reasoning?: number };
  costUsd?: number | null;
  costUnknownRequests?: number;
  errors?: number;
  latencyMs?: { p50: number | null; p99: number | null };
  ttftMs?: { p50: number | null; p99: number | null };
}

export interface UsageReportSummary {
  from: string;
  to: string;
  groupBy: string[];
  scanned?: number;
  truncated?: boolean;
  note?: string;
  data: UsageRowSummary[];
  totals?: Omit<UsageRowSummary, 'group'>;
}

/** The report as table lines: the group columns first, a TOTAL row last. */
export function usageTable(report: UsageReportSummary): string[] {
  const dims = report.groupBy ?? [];
  const columns: Column[] = [
    ...dims.map((d) => ({ header: d.toUpperCase() })),
    ...['REQUESTS', 'PROMPT', 'COMPLETION', 'COST USD', 'ERRORS', 'P50', 'P99', 'TTFT P50', 'TTFT P99'].map((header) => ({ header, align: 'right' as const })),
  ];
  let unpriced = false;
  const cells = (r: Omit<UsageRowSummary, 'group'>): string[] => {
    const unknown = (r.costUnknownRequests ?? 0) > 0;
    unpriced ||= unknown;
    return [
      formatCount(r.requests),
      formatCount(r.tokens?.prompt),
      formatCount(r.tokens?.completion),
      `${formatUsd(r.costUsd ?? null)}${unknown ? '*' : ''}`,
      formatCount(r.errors),
      formatMs(r.latencyMs?.p50),
      formatMs(r.latencyMs?.p99),
      formatMs(r.ttftMs?.p50),
      formatMs(r.ttftMs?.p99),
    ];
  };
  const rows = report.data.map((r) => [...dims.map((d) => r.group?.[d] ?? '-'), ...cells(r)]);
  // A TOTAL row only adds something under two rows or more.
  if (report.totals && dims.length && report.data.length > 1) rows.push([...dims.map((_, i) => (i === 0 ? 'TOTAL' : '')), ...cells(report.totals)]);
  const title = `usage ${report.from} .. ${report.to}${dims.length ? ` by ${dims.join(', ')}` : ''}`;
  const lines = [title, ...(rows.length ? formatTable(columns, rows) : ['no usage in this range'])];
  if (unpriced) lines.push('* some requests were served by a model without a price: their cost is not in the sum');
  return lines;
}

const OPTIONS = {
  ...HELP_OPTION,
  ...ADMIN_OPTIONS,
  from: { type: 'string' },
  to: { type: 'string' },
  'group-by': { type: 'string' },
  key: { type: 'string' },
  team: { type: 'string' },
  route: { type: 'string' },
  provider: { type: 'string' },
  model: { type: 'string' },
  csv: { type: 'boolean' },
} as const;

export const usageCommand: Command = {
  name: 'usage',
  summary: 'requests, tokens, cost, errors and latency per key/route/… for a period',
  help: `Usage: llm-router usage [--from TIME] [--to TIME] [--group-by DIMS] [filters] [--json | --csv]

Sums usage records over [from, to), grouped as asked, sorted by cost (highest first), with a
TOTAL row. Cost marked * leaves out requests whose model has no price.

  --from TIME        start, inclusive (default: 24 h before --to)
  --to TIME          end, exclusive (default: now)
                     TIME: ISO 8601 with a zone, a date (UTC midnight), now, or -90m, -24h, -7d
  --group-by DIMS    comma list of key, team, route, provider, model, day, hour, outcome;
                     none for the totals only (default: key)
  --key ID, --team T, --route R, --provider P, --model M
                     only records with exactly this value
  --csv              the router's CSV (for a spreadsheet)

Example: llm-router usage --from -24h --group-by key,route

${ADMIN_OPTIONS_HELP}`,
  async run(argv: string[], ctx: CliContext) {
    const { values, positionals } = parseCommandLine('usage', argv, OPTIONS, true);
    if (values.help) return printHelp(ctx, usageCommand.help);
    if (positionals.length) throw new UsageError(`usage takes no arguments (got "${positionals[0]}")`, 'usage');
    if (values.csv && values.json) throw new UsageError('give --json or --csv, not both', 'usage');
    const query = {
      from: values.from,
      to: values.to,
      groupBy: values['group-by'],
      key: values.key,
      team: values.team,
      route: values.route,
      provider: values.provider,
      model: values.model,
    };
    const client = createAdminClient(resolveConnection(values, ctx.env, 'usage'), ctx);
    if (values.csv) {
      ctx.stdout.write(await client.getText('/admin/usage', { ...query, format: 'csv' }));
      return EXIT.ok;
    }
    const report = await client.get<UsageReportSummary>('/admin/usage', query);
    if (values.json) {
      printJson(ctx, report);
      return EXIT.ok;
    }
    printLines(ctx, usageTable(report));
    if (report.truncated) ctx.stderr.write(`llm-router: the report is truncated: ${report.note ?? 'narrow the range or the filters'}\n`);
    return EXIT.ok;
  },
};
