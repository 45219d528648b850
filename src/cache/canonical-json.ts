/**
 * A canonical text of a JSON-like value, for hashing: object keys sorted (by UTF-16 code
 * units, like `Array.prototype.sort`), so key order never matters; every value that
 * `JSON.stringify` would silently conflate gets a text of its own.
 *
 * - `undefined` (and functions, symbols) in an object: the key is left out, as in JSON, so
 *   `{a: undefined}` equals `{}` (an unset optional field is the same request as an absent one);
 *   in an array: `null`, as in JSON (the position still counts).
 * - `NaN`, `Infinity`, `-Infinity`: the bare tokens `NaN`, `Infinity`, `-Infinity` (unquoted,
 *   so they never collide with a string or with `null`, which JSON turns them into); `-0` is `0`.
 * - bigint: digits followed by `n`; a Date: its ISO text (as JSON would give it), other
 *   objects: their own enumerable keys (a `__proto__` key of a null-prototype object included).
 * - A cycle throws a TypeError (request bodies come from JSON and cannot hold one).
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, new Set());
  return out.join('');
}

function write(value: unknown, out: string[], ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'number':
      out.push(Number.isFinite(value) ? JSON.stringify(value) : String(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'bigint':
      out.push(`${value}n`);
      return;
    case 'undefined':
    case 'function':
    case 'symbol':
      out.push('null');
      return;
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (value instanceof Date) {
    out.push(JSON.stringify(Number.isNaN(value.getTime()) ? null : value.toISOString()));
    return;
  }
  const obj = value as object;
  if (ancestors.has(obj)) throw new TypeError('canonicalJson: cyclic value');
  ancestors.add(obj);
  if (Array.isArray(obj)) {
    out.push('[');
    obj.forEach((item, i) => {
      if (i > 0) out.push(',');
      write(item, out, ancestors);
    });
    out.push(']');
  } else {
    const record = obj as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => !omitted(record[k]))
      .sort();
    out.push('{');
    keys.forEach((k, i) => {
      if (i > 0) out.push(',');
      out.push(JSON.stringify(k), ':');
      write(record[k], out, ancestors);
    });
    out.push('}');
  }
  ancestors.delete(obj);
}

function omitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}
