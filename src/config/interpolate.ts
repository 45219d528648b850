/**
 * `${VAR}` and `${VAR:-default}` references in config strings. A reference to an unset
 * variable is not an error here: the provider holding it is reported disabled at start.
 */
const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface Interpolated {
  value: unknown;
  /** Paths (as arrays) of strings that referenced an unset variable, with the variable names. */
  missing: Array<{ path: Array<string | number>; variable: string }>;
}

/** Replaces references in every string of a parsed YAML tree. Strings with an unset reference become `undefined`. */
export function interpolateEnv(tree: unknown, env: NodeJS.ProcessEnv): Interpolated {
  const missing: Interpolated['missing'] = [];
  const walk = (node: unknown, path: Array<string | number>): unknown => {
    if (typeof node === 'string') {
      let unset: string | undefined;
      const out = node.replace(REF, (_m, name: string, fallback: string | undefined) => {
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (fallback !== undefined) return fallback;
        unset ??= name;
        return '';
      });
      if (unset) {
        missing.push({ path, variable: unset });
        return undefined;
      }
      // `port: ${PORT}` should read as the number it names, as if written in the YAML.
      if (out !== node && /^\$\{[^}]+\}$/.test(node) && /^(-?\d+(\.\d+)?|true|false)$/.test(out)) return JSON.parse(out) as unknown;
      return out;
    }
    if (Array.isArray(node)) {
      const items = node.map((item, i) => walk(item, [...path, i]));
      // An unset entry in a list (e.g. one of several API keys) is dropped, not passed on empty.
      return items.filter((item) => item !== undefined);
    }
    if (node && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) {
        const w = walk(v, [...path, k]);
        if (w !== undefined) out[k] = w;
      }
      return out;
    }
    return node;
  };
  return { value: walk(tree, []), missing };
}
