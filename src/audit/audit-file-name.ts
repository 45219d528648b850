import path from 'node:path';

/** `audit-2026-12-02.0001.jsonl`: the UTC day the file was opened and its number within the day. */
export interface AuditFileName {
  day: string;
  index: number;
}

const NAME = /^audit-(\d{4}-\d{2}-\d{2})\.(\d{4,})\.jsonl$/;

export function auditFileName(day: string, index: number): string {
  return `audit-${day}.${String(index).padStart(4, '0')}.jsonl`;
}

export function parseAuditFileName(file: string): AuditFileName | undefined {
  const m = NAME.exec(path.basename(file));
  return m ? { day: m[1]!, index: Number(m[2]) } : undefined;
}

/** The UTC day of a time, `YYYY-MM-DD` (ISO dates sort as strings). */
export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * Chain order of audit files: by day, then by number (numerically, so `.10000` follows `.9999`);
 * names not ours sort after them, by name.
 */
export function compareAuditFiles(a: string, b: string): number {
  const pa = parseAuditFileName(a);
  const pb = parseAuditFileName(b);
  if (pa && pb) return pa.day < pb.day ? -1 : pa.day > pb.day ? 1 : pa.index - pb.index;
  if (pa) return -1;
  if (pb) return 1;
  const na = path.basename(a);
  const nb = path.basename(b);
  return na < nb ? -1 : na > nb ? 1 : 0;
}
