/** Aligned plain-text tables for the read commands. */

export interface Column {
  header: string;
  /** Numbers read best right-aligned. Default left. */
  align?: 'left' | 'right';
}

/**
 * What a cell may show of a string the router relays (upstream error messages, key names):
 * control characters, escape sequences included, become "?" so a hostile upstream cannot
 * drive the operator's terminal; runs of whitespace become one space.
 */
export function cleanText(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '?').replace(/\s+/g, ' ').trim();
}

/** Terminal columns a string takes (code points: good enough for the text these tables hold). */
const width = (s: string) => [...s].length;

/** Lines of a table: a header row, then one row each, columns two spaces apart, no trailing spaces. */
export function formatTable(columns: readonly Column[], rows: ReadonlyArray<readonly string[]>): string[] {
  const cells = rows.map((r) => columns.map((_, i) => cleanText(r[i] ?? '')));
  const widths = columns.map((c, i) => Math.max(width(c.header), ...cells.map((r) => width(r[i]!))));
  const line = (r: readonly string[]) =>
    r
      .map((v, i) => {
        const pad = ' '.repeat(widths[i]! - width(v));
        return columns[i]!.align === 'right' ? pad + v : v + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)];
}

/** "field: value" lines with the values aligned (one record in detail). */
export function formatFields(fields: ReadonlyArray<readonly [string, string]>): string[] {
  const w = Math.max(0, ...fields.map(([k]) => width(k)));
  return fields.map(([k, v]) => `${k}:${' '.repeat(w - width(k) + 1)}${cleanText(v)}`.trimEnd());
}
