/** `llm-router targets` and `drain` / `restore` / `release PROVIDER/MODEL`: the failover controls of /admin/targets. */
import { ADMIN_OPTIONS, ADMIN_OPTIONS_HELP, createAdminClient, resolveConnection } from '../admin-client.js';
import { printHelp, printJson, printLines, type CliContext } from '../cli-context.js';
import { EXIT, UsageError } from '../cli-errors.js';
import type { Command } from '../command.js';
import { formatSince } from '../format.js';
import { HELP_OPTION, parseCommandLine } from '../parse-options.js';
import { formatFields, formatTable } from '../table.js';

/** An error as /admin/targets shows it. */
interface TargetError {
  source?: string;
  kind?: string;
  message?: string;
  at?: string;
}

/**
 * What the CLI reads of a target (loosely: a newer router may add fields, an older one lack
 * some, and the table shows "-" rather than failing).
 */
export interface TargetSummary {
  provider: string;
  model: string;
  state: string;
  since?: string;
  routes?: string[];
  lastError?: TargetError | null;
  breaker?: { calls?: number; failures?: number; errorPercent?: number } | null;
  probes?: { passed?: number; failed?: number; next?: string | null } | null;
  probation?: { good: number; promoteAfter: number } | null;
  drain?: { at?: string; by?: string | null; reason?: string | null } | null;
  /** With shared health (state.backend redis): the fleet's record, which is what every instance follows. */
  fleet?: {
    state: string;
    since?: string | null;
    why?: string | null;
    drain?: { by?: string | null; reason?: string | null } | null;
    probation?: { good: number; promoteAfter: number } | null;
    instances?: Array<{ instance: string; state: string }>;
  } | null;
}

/** `provider/model` (the model may hold more slashes) into its parts; anything else is a usage error. */
export function parseTargetSpec(spec: string | undefined, command: string): { provider: string; model: string } {
  const cut = spec?.indexOf('/') ?? -1;
  if (spec === undefined || cut <= 0 || cut === spec.length - 1) throw new UsageError(`give the target as PROVIDER/MODEL (e.g. openai/gpt-4o-mini)${spec ? `, not "${spec}"` : ''}`, command);
  return { provider: spec.slice(0, cut), model: spec.slice(cut + 1) };
}

/** The admin path of one target: each part one URL segment (a model's "/" is encoded). */
export const targetPath = (t: { provider: string; model: string }): string => `/admin/targets/${encodeURIComponent(t.provider)}/${encodeURIComponent(t.model)}`;

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The state the fleet follows, and this instance's when it differs. */
export function stateOf(t: TargetSummary): string {
  if (!t.fleet || t.fleet.state === t.state) return t.state;
  return `${t.fleet.state} (here: ${t.state})`;
}

/** Why a target is where it is: the drain note, else the last error while not healthy, else the fleet's word. */
export function reasonOf(t: TargetSummary): string {
  const drain = t.fleet?.drain ?? t.drain;
  if (drain) return `drained${drain.by ? ` by ${drain.by}` : ''}${drain.reason ? `: ${drain.reason}` : ''}`;
  const state = t.fleet?.state ?? t.state;
  if (state !== 'healthy' && t.lastError) return [t.lastError.source, t.lastError.kind].filter(Boolean).join(' ') + (t.lastError.message ? `: ${t.lastError.message}` : '');
  return t.fleet?.why ?? '-';
}

/** Probation progress, "good/needed". */
export function probationOf(t: TargetSummary): string {
  const p = t.fleet?.probation ?? t.probation;
  return p ? `${p.good}/${p.promoteAfter}` : '-';
}

/** The fleet table: one target a row. */
export function targetsTable(targets: readonly TargetSummary[], nowMs: number): string[] {
  if (!targets.length) return ['no targets (health checks are off, or no provider is enabled)'];
  return formatTable(
    [{ header: 'TARGET' }, { header: 'STATE' }, { header: 'SINCE' }, { header: 'PROBATION', align: 'right' }, { header: 'ROUTES' }, { header: 'REASON' }],
    targets.map((t) => [`${t.provider}/${t.model}`, stateOf(t), formatSince(t.fleet?.since ?? t.since, nowMs), probationOf(t), t.routes?.join(',') || '-', clip(reasonOf(t), 100)]),
  );
}

/** One target in detail. */
export function targetDetail(t: TargetSummary, nowMs: number): string[] {
  const fields: Array<[string, string]> = [
    ['target', `${t.provider}/${t.model}`],
    ['state', stateOf(t)],
    ['since', formatSince(t.fleet?.since ?? t.since, nowMs)],
    ['routes', t.routes?.join(', ') || '-'],
    ['reason', reasonOf(t)],
    ['probation', probationOf(t)],
  ];
  if (t.breaker) fields.push(['breaker', `${t.breaker.failures ?? 0} failure(s) in ${t.breaker.calls ?? 0} call(s) (${t.breaker.errorPercent ?? 0}%)`]);
  if (t.probes) fields.push(['probes', `${t.probes.passed ?? 0} passed, ${t.probes.failed ?? 0} failed${t.probes.next ? `, next ${formatSince(t.probes.next, nowMs).replace(/ \(.*\)$/, '')}` : ''}`]);
  if (t.lastError) fields.push(['last error', `${[t.lastError.source, t.lastError.kind].filter(Boolean).join(' ')}: ${t.lastError.message ?? ''} (${formatSince(t.lastError.at, nowMs)})`]);
  for (const i of t.fleet?.instances ?? []) fields.push([`instance ${i.instance}`, i.state]);
  return formatFields(fields);
}

const TARGET_OPTIONS = { ...HELP_OPTION, ...ADMIN_OPTIONS } as const;

export const targetsCommand: Command = {
  name: 'targets',
  summary: 'the fleet: each target\'s state, since when, why, probation progress',
  help: `Usage: llm-router targets [PROVIDER/MODEL] [--json]

Lists every target (provider + model) with its state (healthy, open, probation, drained), since
when, why (the drain note, or the last error while not healthy), probation progress (good shadow
calls / needed) and the routes using it. With shared health (state.backend: redis) the fleet's
state is shown, and this instance's in brackets when it differs. With PROVIDER/MODEL: that
target in detail (breaker window, probes, last error, each instance).

${ADMIN_OPTIONS_HELP}`,
  async run(argv: string[], ctx: CliContext) {
    const { values, positionals } = parseCommandLine('targets', argv, TARGET_OPTIONS, true);
    if (values.help) return printHelp(ctx, targetsCommand.help);
    if (positionals.length > 1) throw new UsageError('give at most one PROVIDER/MODEL', 'targets');
    const one = positionals[0] === undefined ? undefined : parseTargetSpec(positionals[0], 'targets');
    const client = createAdminClient(resolveConnection(values, ctx.env, 'targets'), ctx);
    if (one) {
      const t = await client.get<TargetSummary>(targetPath(one));
      if (values.json) printJson(ctx, t);
      else printLines(ctx, targetDetail(t, ctx.now()));
      return EXIT.ok;
    }
    const answer = await client.get<{ data: TargetSummary[] }>('/admin/targets');
    if (values.json) printJson(ctx, answer);
    else printLines(ctx, targetsTable(answer.data ?? [], ctx.now()));
    return EXIT.ok;
  },
};

/** drain, restore and release share everything but the verb and what it means. */
function targetAction(name: 'drain' | 'restore' | 'release', summary: string, explain: string): Command {
  const options = name === 'drain' ? { ...TARGET_OPTIONS, reason: { type: 'string' } } as const : TARGET_OPTIONS;
  const command: Command = {
    name,
    summary,
    help: `Usage: llm-router ${name} PROVIDER/MODEL${name === 'drain' ? ' [--reason TEXT]' : ''} [--json]

${explain}
A model name with "/" is given as is (openai/meta-llama/Llama-3.1-8B: provider "openai").
${name === 'drain' ? '\n  --reason TEXT          shown in `llm-router targets` (at most 200 characters kept)\n' : ''}
${ADMIN_OPTIONS_HELP}`,
    async run(argv: string[], ctx: CliContext) {
      const { values, positionals } = parseCommandLine(name, argv, options, true);
      if (values.help) return printHelp(ctx, command.help);
      if (positionals.length !== 1) throw new UsageError(`${name} takes one PROVIDER/MODEL`, name);
      const target = parseTargetSpec(positionals[0], name);
      const client = createAdminClient(resolveConnection(values, ctx.env, name), ctx);
      const reason = 'reason' in values ? values.reason : undefined;
      const t = await client.post<TargetSummary>(`${targetPath(target)}/${name}`, typeof reason === 'string' ? { reason } : {});
      if (values.json) printJson(ctx, t);
      else printLines(ctx, [`${t.provider}/${t.model}: ${stateOf(t)}${t.drain?.reason ? ` (${t.drain.reason})` : ''}`]);
      return EXIT.ok;
    },
  };
  return command;
}

export const drainCommand = targetAction('drain', 'hold a target: no live traffic, no probes, no shadow calls', 'Drains a target for maintenance: no live traffic, no probes, no shadow calls. Drains survive\nconfig reloads. Undo with `release` (through probes and probation) or `restore` (healthy now).');
export const releaseCommand = targetAction('release', 'drained → open: the target earns its way back through probes and probation', 'Releases a drained target to open: probes resume, then probation on shadow traffic (the safe way back).');
export const restoreCommand = targetAction('restore', 'force a target healthy now, with a clean breaker window', 'Forces a target healthy now, whatever its state, with a clean breaker window.');
