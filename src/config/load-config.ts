import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { configSchema, crossCheckConfig, type RouterConfig } from './schema.js';
import { interpolateEnv } from './interpolate.js';
import { providerDisabledReason, type MissingVariable } from '../../providers/options.js';
import { formatParam } from '../wire/wire-common.js';

export interface ConfigProblem {
  file: string;
  line?: number;
  column?: number;
  /** Field path, e.g. routes.chat.targets[0].provider */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file;
  return `${where}: ${p.path || '(root)'}: ${p.message}`;
}

export interface LoadedConfig {
  config: RouterConfig;
  file: string;
  /** Directory relative paths resolve against. */
  baseDir: string;
  /** Providers that are off at start and why (unset credentials, enabled: false). */
  disabled: Map<string, string>;
  /** Non-fatal notes for the operator (e.g. an auth key whose variable is unset). */
  warnings: string[];
}

function locate(doc: Document, lines: LineCounter, p: Array<string | number | symbol>): { line?: number; column?: number } {
  // Walk up to the nearest node that exists (a missing field is reported at its parent).
  for (let n = p.length; n >= 0; n--) {
    const node = doc.getIn(p.slice(0, n) as Array<string | number>, true);
    if (isNode(node) && node.range) {
      const pos = lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

/** Parses and validates config text. Throws ConfigError listing every problem with line and field. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length) {
    throw new ConfigError(
      // The first few errors: later ones are usually echoes of the first.
      doc.errors.slice(0, 3).map((e) => {
        const pos = e.linePos?.[0];
        return { file, line: pos?.line, column: pos?.col, path: '', message: `YAML syntax: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}` };
      }),
    );
  }
  const { value, missing } = interpolateEnv(doc.toJS() ?? {}, env);
  const parsed = configSchema.safeParse(value);
  const issues = [
    ...(parsed.success ? [] : parsed.error.issues).map((issue) => ({
      path: issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path,
      message: issue.message,
    })),
    ...crossCheckConfig(value),
  ];
  if (!parsed.success || issues.length) {
    throw new ConfigError(issues.map((i) => ({ file, ...locate(doc, lines, i.path), path: formatParam(i.path), message: i.message })));
  }
  const config = parsed.data;
  const disabled = new Map<string, string>();
  const warnings: string[] = [];
  const missingByProvider = new Map<string, MissingVariable[]>();
  for (const m of missing) {
    const [section, id, ...rest] = m.path;
    if (section === 'providers' && typeof id === 'string') {
      const list = missingByProvider.get(id) ?? [];
      list.push({ path: rest, variable: m.variable });
      missingByProvider.set(id, list);
    } else {
      warnings.push(`${formatParam(m.path)}: environment variable ${m.variable} is not set; entry ignored`);
    }
  }
  // Each provider kind decides from its own options whether it can run (providers/<kind>/options.ts).
  for (const [id, p] of Object.entries(config.providers)) {
    const why = providerDisabledReason(p, missingByProvider.get(id) ?? []);
    if (why) disabled.set(id, why);
  }
  // An empty string is never a key: `${SECOND:-}` must not let a blank Authorization header in.
  for (const field of ['keys', 'adminKeys'] as const) {
    const blank = config.auth[field].filter((k) => k.trim() === '').length;
    if (blank) {
      warnings.push(`auth.${field}: ${blank} empty entr${blank === 1 ? 'y' : 'ies'} ignored (an empty string is never a key)`);
      config.auth[field] = config.auth[field].filter((k) => k.trim() !== '');
    }
  }
  return { config, file, baseDir: path.dirname(path.resolve(file)), disabled, warnings };
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file, path: '', message: `cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
  return parseConfig(text, file, env);
}
