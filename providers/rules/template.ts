/**
 * Answer templates: `{{route}}` (the route the app called), `{{model}}` (the target's model),
 * `{{date}}` (today, YYYY-MM-DD, UTC) and the matched text: `{{0}}` the whole match (or the
 * keyword that matched), `{{1}}`… numbered regex groups, `{{name}}` named groups. Templates are
 * compiled when the file is read, so an unknown placeholder is a load error, not a surprise
 * in an answer. Any other text, `{` and `}` included, is copied as it is.
 */

/** What a rendered answer may draw on. */
export interface TemplateValues {
  route: string;
  model: string;
  /** Wall-clock milliseconds. */
  now: number;
  /** Index 0: the whole match; then numbered groups (undefined when an optional group did not take part). */
  groups: ReadonlyArray<string | undefined>;
  named?: Readonly<Record<string, string | undefined>>;
}

type Part = string | { builtin: 'route' | 'model' | 'date' } | { group: number } | { named: string };

/** A compiled template. */
export interface Template {
  readonly source: string;
  render(values: TemplateValues): string;
}

/** Names a template may use besides groups; a named group may not take one of them. */
export const BUILTINS: ReadonlySet<string> = new Set(['route', 'model', 'date']);

const PLACEHOLDER = /\{\{\s*([A-Za-z_$][A-Za-z0-9_$]*|\d+)\s*\}\}/g;

/** What a template's rule can supply besides the built-ins. */
export interface TemplateScope {
  /** Numbered groups available (0 = the whole match only). */
  groupCount: number;
  /** Named groups available. */
  names: readonly string[];
}

/** Compiles `source`; throws an Error whose message names the first bad placeholder. */
export function compileTemplate(source: string, scope: TemplateScope): Template {
  const parts: Part[] = [];
  let last = 0;
  for (const m of source.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(source.slice(last, m.index));
    last = m.index + m[0].length;
    const name = m[1]!;
    if (/^\d+$/.test(name)) {
      const n = Number(name);
      if (n > scope.groupCount) {
        throw new Error(scope.groupCount === 0 && n > 0 ? `{{${name}}}: the rule has no regex groups` : `{{${name}}}: the regex has only ${scope.groupCount} group(s)`);
      }
      parts.push({ group: n });
    } else if (BUILTINS.has(name)) parts.push({ builtin: name as 'route' | 'model' | 'date' });
    else if (scope.names.includes(name)) parts.push({ named: name });
    else throw new Error(`{{${name}}}: unknown placeholder (use route, model, date, a group number or a named group)`);
  }
  if (last < source.length) parts.push(source.slice(last));
  return {
    source,
    render(v) {
      let out = '';
      for (const p of parts) {
        if (typeof p === 'string') out += p;
        else if ('builtin' in p) out += p.builtin === 'date' ? new Date(v.now).toISOString().slice(0, 10) : v[p.builtin];
        else if ('group' in p) out += v.groups[p.group] ?? '';
        else out += v.named?.[p.named] ?? '';
      }
      return out;
    },
  };
}
