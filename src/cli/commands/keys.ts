/** `llm-router keys create|list|show|rotate|revoke`: virtual keys through /admin/keys. */
import { ADMIN_OPTIONS, ADMIN_OPTIONS_HELP, createAdminClient, resolveConnection, type AdminClient } from '../admin-client.js';
import { printHelp, printJson, printLines, type CliContext } from '../cli-context.js';
import { EXIT, UsageError } from '../cli-errors.js';
import type { Command } from '../command.js';
import { formatSince } from '../format.js';
import { HELP_OPTION, intOption, numberOption, parseCommandLine } from '../parse-options.js';
import { formatFields, formatTable } from '../table.js';

/** What the CLI reads of a key (loosely, as the admin API shows it: never a hash). */
export interface KeySummary {
  id: string;
  name: string;
  team?: string;
  routes?: string[];
  limits?: { rpm?: number; tpm?: number; maxInFlight?: number };
  budget?: { amountUsd: number; period: string; softRatio?: number };
  metadata?: Record<string, string>;
  createdAt?: string;
  expiresAt?: string;
  revokedAt?: string;
  source?: string;
  status?: string;
  prefix?: string;
  secrets?: Array<{ prefix: string; createdAt?: string; expiresAt?: string }>;
  /** Create and rotate only: shown this once. */
  secret?: string;
  /** `show` only: where the key stands now. */
  usage?: unknown;
}

const KEYS_HELP = `Usage: llm-router keys <create|list|show|rotate|revoke> [...] [--json]

  keys create --name NAME [--team TEAM] [--routes a,b] [--rpm N] [--tpm N] [--max-in-flight N]
              [--budget-usd X --budget-period day|month|total [--soft-ratio R]]
              [--metadata k=v]... [--expires-at ISO-TIME]
                         a new key; its secret is printed this once only
  keys list              every key: id, name, team, status, prefix, routes, expiry
  keys show ID           one key, and where it stands now (limits remaining, budget spent)
  keys rotate ID [--grace SECONDS]
                         a new secret; the old one keeps working SECONDS more
                         (default 3600, at most 2592000 = 30 days; 0 ends it now: a leaked key)
  keys revoke ID         refused at once on every instance

${ADMIN_OPTIONS_HELP}`;

const keyPath = (id: string) => `/admin/keys/${encodeURIComponent(id)}`;

/** The key list as a table. */
export function keysTable(keys: readonly KeySummary[], nowMs: number): string[] {
  if (!keys.length) return ['no keys'];
  return formatTable(
    [{ header: 'ID' }, { header: 'NAME' }, { header: 'TEAM' }, { header: 'STATUS' }, { header: 'PREFIX' }, { header: 'ROUTES' }, { header: 'EXPIRES' }, { header: 'SOURCE' }],
    keys.map((k) => [k.id, k.name, k.team ?? '-', k.status ?? '-', k.prefix || '-', k.routes?.join(',') ?? '*', k.expiresAt ? formatSince(k.expiresAt, nowMs).replace(/ \(.*\)$/, '') : '-', k.source ?? '-']),
  );
}

/** One key as field lines (the secret only when the answer holds one: create and rotate). */
export function keyDetail(k: KeySummary, nowMs: number): string[] {
  const limits = k.limits ? Object.entries(k.limits).map(([n, v]) => `${n} ${v}`).join(', ') : '';
  const fields: Array<[string, string]> = [
    ['id', k.id],
    ['name', k.name],
    ['team', k.team ?? '-'],
    ['status', k.status ?? '-'],
    ['routes', k.routes?.join(', ') ?? '* (every route)'],
    ['limits', limits || '-'],
    ['budget', k.budget ? `$${k.budget.amountUsd} per ${k.budget.period}${k.budget.softRatio !== undefined ? `, warn at ${k.budget.softRatio * 100}%` : ''}` : '-'],
    ['expires', k.expiresAt ? formatSince(k.expiresAt, nowMs).replace(/ \(.*\)$/, '') : 'never'],
  ];
  for (const s of k.secrets ?? []) fields.push([`secret ${s.prefix}…`, s.expiresAt ? `valid until ${s.expiresAt}` : 'current']);
  if (k.revokedAt) fields.push(['revoked', k.revokedAt]);
  for (const [m, v] of Object.entries(k.metadata ?? {})) fields.push([`metadata ${m}`, v]);
  if (k.usage !== undefined) fields.push(['usage', JSON.stringify(k.usage)]);
  const lines = formatFields(fields);
  // Printed unaltered (it is ours, not relayed text), last, and said once.
  if (k.secret) lines.push('', `secret: ${k.secret}`, '(shown this once only: store it now; the router keeps only a hash)');
  return lines;
}

/** The POST /admin/keys body from create's flags. */
export function createBody(values: Record<string, string | boolean | string[] | undefined>): Record<string, unknown> {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const name = str('name');
  if (!name) throw new UsageError('keys create needs --name', 'keys');
  const body: Record<string, unknown> = { name };
  if (str('team')) body.team = str('team');
  const routes = str('routes');
  if (routes !== undefined) body.routes = routes.split(',').map((r) => r.trim()).filter(Boolean);
  const limits: Record<string, number> = {};
  for (const [flag, field] of [['rpm', 'rpm'], ['tpm', 'tpm'], ['max-in-flight', 'maxInFlight']] as const) {
    const v = str(flag);
    if (v !== undefined) limits[field] = intOption(flag, v, 1, Number.MAX_SAFE_INTEGER, 'keys');
  }
  if (Object.keys(limits).length) body.limits = limits;
  const amount = str('budget-usd');
  const period = str('budget-period');
  if ((amount === undefined) !== (period === undefined)) throw new UsageError('--budget-usd and --budget-period go together', 'keys');
  if (amount !== undefined && period !== undefined) {
    if (!['day', 'month', 'total'].includes(period)) throw new UsageError(`--budget-period must be day, month or total (got "${period}")`, 'keys');
    const soft = str('soft-ratio');
    body.budget = { amountUsd: numberOption('budget-usd', amount, 0, Number.MAX_SAFE_INTEGER, 'keys'), period, ...(soft !== undefined ? { softRatio: numberOption('soft-ratio', soft, 0.000001, 1, 'keys') } : {}) };
  } else if (str('soft-ratio') !== undefined) {
    throw new UsageError('--soft-ratio needs --budget-usd and --budget-period', 'keys');
  }
  const metadata = values.metadata;
  if (Array.isArray(metadata) && metadata.length) {
    body.metadata = Object.fromEntries(
      metadata.map((kv) => {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`--metadata takes key=value (got "${kv}")`, 'keys');
        return [kv.slice(0, eq), kv.slice(eq + 1)];
      }),
    );
  }
  if (str('expires-at')) body.expiresAt = str('expires-at');
  return body;
}

const CREATE_OPTIONS = {
  ...HELP_OPTION,
  ...ADMIN_OPTIONS,
  name: { type: 'string' },
  team: { type: 'string' },
  routes: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'max-in-flight': { type: 'string' },
  'budget-usd': { type: 'string' },
  'budget-period': { type: 'string' },
  'soft-ratio': { type: 'string' },
  metadata: { type: 'string', multiple: true },
  'expires-at': { type: 'string' },
} as const;

const ID_OPTIONS = { ...HELP_OPTION, ...ADMIN_OPTIONS } as const;

/** The one positional ID of show, rotate and revoke. */
function oneId(positionals: string[], verb: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new UsageError(`keys ${verb} takes one key ID (see \`llm-router keys list\`)`, 'keys');
  return positionals[0];
}

type Sub = (argv: string[], ctx: CliContext, client: (values: Parameters<typeof resolveConnection>[0]) => AdminClient) => Promise<number>;

const SUBCOMMANDS: Record<string, Sub> = {
  async create(argv, ctx, client) {
    const { values } = parseCommandLine('keys', argv, CREATE_OPTIONS);
    if (values.help) return printHelp(ctx, KEYS_HELP);
    const key = await client(values).post<KeySummary>('/admin/keys', createBody(values));
    if (values.json) printJson(ctx, key);
    else printLines(ctx, keyDetail(key, ctx.now()));
    return EXIT.ok;
  },
  async list(argv, ctx, client) {
    const { values } = parseCommandLine('keys', argv, ID_OPTIONS);
    if (values.help) return printHelp(ctx, KEYS_HELP);
    const answer = await client(values).get<{ data: KeySummary[] }>('/admin/keys');
    if (values.json) printJson(ctx, answer);
    else printLines(ctx, keysTable(answer.data ?? [], ctx.now()));
    return EXIT.ok;
  },
  async show(argv, ctx, client) {
    const { values, positionals } = parseCommandLine('keys', argv, ID_OPTIONS, true);
    if (values.help) return printHelp(ctx, KEYS_HELP);
    const key = await client(values).get<KeySummary>(keyPath(oneId(positionals, 'show')));
    if (values.json) printJson(ctx, key);
    else printLines(ctx, keyDetail(key, ctx.now()));
    return EXIT.ok;
  },
  async rotate(argv, ctx, client) {
    const { values, positionals } = parseCommandLine('keys', argv, { ...ID_OPTIONS, grace: { type: 'string' } }, true);
    if (values.help) return printHelp(ctx, KEYS_HELP);
    const id = oneId(positionals, 'rotate');
    const body = values.grace === undefined ? {} : { graceSeconds: intOption('grace', values.grace, 0, 2_592_000, 'keys') };
    const key = await client(values).post<KeySummary>(`${keyPath(id)}/rotate`, body);
    if (values.json) printJson(ctx, key);
    else printLines(ctx, keyDetail(key, ctx.now()));
    return EXIT.ok;
  },
  async revoke(argv, ctx, client) {
    const { values, positionals } = parseCommandLine('keys', argv, ID_OPTIONS, true);
    if (values.help) return printHelp(ctx, KEYS_HELP);
    const key = await client(values).delete<KeySummary>(keyPath(oneId(positionals, 'revoke')));
    if (values.json) printJson(ctx, key);
    else printLines(ctx, [`${key.id} (${key.name}): revoked${key.revokedAt ? ` at ${key.revokedAt}` : ''}`]);
    return EXIT.ok;
  },
};

export const keysCommand: Command = {
  name: 'keys',
  summary: 'virtual keys: create, list, show, rotate, revoke',
  help: KEYS_HELP,
  async run(argv: string[], ctx: CliContext) {
    const [verb, ...rest] = argv;
    if (verb === '--help' || verb === '-h' || verb === 'help') return printHelp(ctx, KEYS_HELP);
    if (verb === undefined) throw new UsageError('keys needs a command: create, list, show, rotate or revoke', 'keys');
    const sub = Object.hasOwn(SUBCOMMANDS, verb) ? SUBCOMMANDS[verb] : undefined;
    if (!sub) throw new UsageError(`unknown keys command "${verb}" (create, list, show, rotate, revoke)`, 'keys');
    return sub(rest, ctx, (values) => createAdminClient(resolveConnection(values, ctx.env, 'keys'), ctx));
  },
};
