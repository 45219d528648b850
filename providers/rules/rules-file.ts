/**
 * The rules file of a `rules` provider: its schema, and the parse that compiles every regex
 * and template once, so that a bad one is reported when the file is read (naming the file,
 * the line and the rule), never at the first request that reaches it.
 *
 * ```yaml
 * rules:
 *   - name: opening-hours                # optional; shown in x-router-rule
 *     match: { keywords: [opening hours, open today] }
 *     answer: We are open 9:00-17:00. ({{route}}, {{date}})
 *   - match: { regex: 'order (\d{6,10})', flags: i }
 *     answer: Order {{1}} is being looked up; the service is degraded right now.
 * default: The service is degraded right now; please try again in a few minutes.
 * ```
 */
import { readFileSync } from 'node:fs';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { unsafePattern, MAX_PATTERN_LENGTH } from './regex-guard.js';
import { BUILTINS, compileTemplate, type Template, type TemplateScope } from './template.js';

const matchSchema = z
  .strictObject({
    /** Any of these words or phrases, case-insensitive, as whole words (whitespace inside a phrase matches any run of whitespace). */
    keywords: z.array(z.string().trim().min(1).max(200)).min(1).optional(),
    /** A JavaScript regular expression; its groups are {{1}}, {{2}}… in the answer. */
    regex: z.string().min(1).max(MAX_PATTERN_LENGTH).optional(),
    /** Regex flags: any of i, m, s, u, v. Default "i" (case-insensitive, like keywords). */
    flags: z.string().regex(/^[imsuv]*$/, 'only the flags i, m, s, u and v').default('i'),
    /** Whose last message is matched: the last user message by default; "system" also covers developer messages. */
    role: z.enum(['user', 'system', 'assistant']).default('user'),
  })
  .refine((m) => m.keywords !== undefined || m.regex !== undefined, 'a rule needs keywords, a regex or both');

const ruleSchema = z.strictObject({
  /** Shown to the app in the x-router-rule header and in logs; default: the rule's index. */
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, ".", "_", ":" or "-" (at most 64)').optional(),
  /** When keywords and regex are both given, both must match. */
  match: matchSchema,
  /** The answer template. */
  answer: z.string().min(1),
});

export const rulesFileSchema = z
  .strictObject({
    /** Tried in order; the first that matches answers. */
    rules: z.array(ruleSchema).default([]),
    /** The answer when no rule matches; absent: the provider passes (the chain goes on to its next target). */
    default: z.string().min(1).optional(),
  })
  .refine((f) => f.rules.length > 0 || f.default !== undefined, 'the file has no rules and no default: it could never answer');

export type Role = 'user' | 'system' | 'assistant';

/** One rule, ready to match. */
export interface CompiledRule {
  /** Position in the file, from 0. */
  index: number;
  /** The rule's name, or `#<index>`. */
  label: string;
  role: Role;
  /** Every keyword in one alternation (longest first), or undefined. */
  keywords?: RegExp;
  regex?: RegExp;
  answer: Template;
}

/** A parsed rules file. */
export interface RuleSet {
  /** Absolute path of the file. */
  source: string;
  rules: readonly CompiledRule[];
  /** The answer when nothing matches, if any. */
  fallback?: Template;
}

/** The rules file is unreadable or invalid; the message names the file, line, field and rule. */
export class RulesFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RulesFileError';
  }
}

const fieldPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '') || '(root)';

function problem(doc: Document, lines: LineCounter, source: string, path: Array<string | number>, message: string): RulesFileError {
  // The nearest node that exists: a missing field is reported at its parent.
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return new RulesFileError(`${source}:${lines.linePos(node.range[0]).line}: ${fieldPath(path)}: ${message}`);
  }
  return new RulesFileError(`${source}: ${fieldPath(path)}: ${message}`);
}

/** Escapes `text` for a `u`-flag regex (where only syntax characters may be escaped). */
const escapeRegex = (text: string) => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/** One regex for all keywords of a rule: whole words, case-insensitive, longest first. */
function keywordRegex(keywords: readonly string[]): RegExp {
  const alts = [...new Set(keywords.map((k) => k.toLowerCase()))]
    .sort((a, b) => b.length - a.length)
    .map((k) => k.split(/\s+/).map(escapeRegex).join('\\s+'));
  return new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alts.join('|')})(?![\\p{L}\\p{N}_])`, 'iu');
}

/** The groups a regex offers to a template. */
function scopeOf(regex: RegExp): TemplateScope {
  // An empty alternative makes any pattern match the empty string, so every group shows up.
  const probe = new RegExp(`${regex.source}|`, regex.flags).exec('')!;
  return { groupCount: probe.length - 1, names: Object.keys(probe.groups ?? {}) };
}

/** Parses and compiles rules YAML text; `source` names the file in messages. Throws RulesFileError. */
export function parseRulesFile(text: string, source: string): RuleSet {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax) {
    // The usual slip: a regex in double quotes, where YAML reads `\d` as an escape.
    const hint = /escape/i.test(syntax.message) ? ' (write regexes in single quotes: in double quotes a backslash is a YAML escape)' : '';
    throw new RulesFileError(`${source}:${lines.linePos(syntax.pos[0]).line}: invalid YAML: ${syntax.message.split('\n')[0]}${hint}`);
  }
  const parsed = rulesFileSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = (issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path) as Array<string | number>;
    throw problem(doc, lines, source, path, issue.message);
  }
  const rules = parsed.data.rules.map((rule, index): CompiledRule => {
    const at = (field: Array<string | number>, message: string) =>
      problem(doc, lines, source, ['rules', index, ...field], rule.name ? `${message} (rule "${rule.name}")` : message);
    let regex: RegExp | undefined;
    if (rule.match.regex !== undefined) {
      const unsafe = unsafePattern(rule.match.regex);
      if (unsafe) throw at(['match', 'regex'], `regex refused: ${unsafe}`);
      try {
        regex = new RegExp(rule.match.regex, rule.match.flags);
      } catch (err) {
        throw at(['match', 'regex'], `invalid regular expression: ${(err as Error).message}`);
      }
    }
    const scope = regex ? scopeOf(regex) : { groupCount: 0, names: [] };
    const clash = scope.names.find((n) => BUILTINS.has(n));
    if (clash) throw at(['match', 'regex'], `named group "${clash}" clashes with the placeholder {{${clash}}}; rename the group`);
    let answer: Template;
    try {
      answer = compileTemplate(rule.answer, scope);
    } catch (err) {
      throw at(['answer'], (err as Error).message);
    }
    return { index, label: rule.name ?? `#${index}`, role: rule.match.role, keywords: rule.match.keywords && keywordRegex(rule.match.keywords), regex, answer };
  });
  let fallback: Template | undefined;
  if (parsed.data.default !== undefined) {
    try {
      fallback = compileTemplate(parsed.data.default, { groupCount: 0, names: [] });
    } catch (err) {
      throw problem(doc, lines, source, ['default'], (err as Error).message);
    }
  }
  return { source, rules, fallback };
}

/** Reads and compiles the rules file at `path` (absolute). Throws RulesFileError. */
export function loadRulesFile(path: string): RuleSet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RulesFileError(`rules file ${path} is not readable: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  return parseRulesFile(text, path);
}
