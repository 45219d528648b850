/** `llm-router check [FILE...]`: validates configs as the router reads them at start, word lists included. */
import path from 'node:path';
import type { ConfigProblem } from '../../config/load-config.js';
import { printHelp, printJson, type CliContext } from '../cli-context.js';
import { EXIT } from '../cli-errors.js';
import type { Command } from '../command.js';
import { HELP_OPTION, parseCommandLine } from '../parse-options.js';

/** What `check` found in one file (also its `--json` form). */
export interface CheckResult {
  file: string;
  ok: boolean;
  routes: string[];
  /** Providers switched off (their ${ENV} credentials unset), with why. */
  disabled: Array<{ provider: string; why: string }>;
  warnings: string[];
  /** The safety word lists, read and compiled. */
  lexicon: { lists: number; terms: number } | null;
  /** With ok false: each problem ("file:line:col: path: message" in `message`). */
  problems: Array<Pick<ConfigProblem, 'line' | 'column' | 'path'> & { message: string }>;
}

/** Reads one config file and its word lists; never throws for a problem of the file. */
export async function checkConfigFile(file: string, env: NodeJS.ProcessEnv): Promise<CheckResult> {
  // Loaded on use: the config schema is the CLI's heaviest import, and only check needs it.
  const { ConfigError, formatProblem, loadConfigFile } = await import('../../config/load-config.js');
  const { loadLexicon } = await import('../../safety/lexicon/lexicon.js');
  const result: CheckResult = { file, ok: false, routes: [], disabled: [], warnings: [], lexicon: null, problems: [] };
  try {
    const loaded = loadConfigFile(file, env);
    result.routes = Object.keys(loaded.config.routes);
    result.disabled = [...loaded.disabled].map(([provider, why]) => ({ provider, why }));
    result.warnings = [...loaded.warnings];
    // The word lists are read as the router reads them at start (a bad line names file and line).
    const lists = Object.entries(loaded.config.safety.lexicons).map(([id, l]) => ({ id, category: l.category, file: path.resolve(loaded.baseDir, l.file), wordBoundary: l.wordBoundary, separators: l.separators }));
    if (lists.length) {
      const lexicon = await loadLexicon(lists, { maxTerms: loaded.config.safety.maxTerms });
      result.lexicon = { lists: lists.length, terms: lexicon.termCount };
    }
    result.ok = true;
  } catch (err) {
    if (err instanceof ConfigError) {
      // Each message names file, line and column as the router's own start-up error does.
      result.problems = err.problems.map((p) => ({ line: p.line, column: p.column, path: p.path, message: formatProblem(p) }));
    } else if (err instanceof Error) {
      result.problems = [{ path: '', message: `${file}: ${err.message}` }];
    } else {
      throw err;
    }
  }
  return result;
}

/** The human form of a result. */
export function describeCheck(r: CheckResult): string[] {
  if (!r.ok) return [`${r.file}: ${r.problems.length} problem(s)`, ...r.problems.map((p) => `  ${p.message}`)];
  const lines = [`${r.file}: ok (${r.routes.length} route(s): ${r.routes.join(', ')})`];
  for (const d of r.disabled) lines.push(`  provider ${d.provider} disabled: ${d.why}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  if (r.lexicon) lines.push(`  lexicon: ${r.lexicon.lists} list(s), ${r.lexicon.terms} term(s)`);
  return lines;
}

export const checkCommand: Command = {
  name: 'check',
  summary: 'validate config files (and their word lists) without starting anything',
  help: `Usage: llm-router check [FILE...] [--json]

Reads each config file as the router does at start: schema, \${ENV} interpolation, providers
disabled for lack of credentials, warnings, and the safety word lists. Prints every problem
with file, line and column. Default FILE: $ROUTER_CONFIG, else config/router.yaml.

Options:
  --json   one JSON array of results (file, ok, routes, disabled, warnings, lexicon, problems)

Exit: 0 every file is valid, 1 any file has a problem, 2 usage error.`,
  async run(argv: string[], ctx: CliContext) {
    const { values, positionals } = parseCommandLine('check', argv, { ...HELP_OPTION, json: { type: 'boolean' } }, true);
    if (values.help) return printHelp(ctx, checkCommand.help);
    const files = positionals.length ? positionals : [ctx.env.ROUTER_CONFIG || 'config/router.yaml'];
    const results: CheckResult[] = [];
    for (const file of files) {
      const r = await checkConfigFile(file, ctx.env);
      results.push(r);
      if (values.json) continue;
      const lines = describeCheck(r);
      (r.ok ? ctx.stdout : ctx.stderr).write(`${lines.join('\n')}\n`);
    }
    if (values.json) printJson(ctx, results);
    return results.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
  },
};
