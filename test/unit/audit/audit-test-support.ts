import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';

import { openAuditLog, type AuditLog, type AuditLogOptions } from '../../../src/audit/audit-log.js';
import { listAuditFiles } from '../../../src/audit/audit-recover.js';

export const silent = pino({ level: 'silent' });

/** A fresh temp directory; `cleanup()` removes every one made. */
const made: string[] = [];
export function tempDir(tag = 'audit'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `llm-router-${tag}-`));
  made.push(dir);
  return dir;
}
export function cleanup(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** A clock the test moves by hand. */
export function manualClock(start = '2026-12-02T10:00:00.000Z'): { now: () => Date; set(iso: string): void } {
  let t = new Date(start);
  return { now: () => t, set: (iso) => (t = new Date(iso)) };
}

export function open(dir: string, extra: Partial<AuditLogOptions> = {}): Promise<AuditLog> {
  return openAuditLog({ dir, logger: silent, ...extra });
}

/** Writes `n` request-like records, numbered from `from`. */
export function writeMany(log: AuditLog, n: number, from = 0): void {
  for (let i = from; i < from + n; i++) log.write({ type: 'request', i, route: 'chat', status: 200, latencyMs: 12.5 });
}

/** The audit files of `dir`, in chain order. */
export const files = listAuditFiles;

/** The lines of a file (without the final empty piece after the last "\n"). */
export function lines(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const parts = text.split('\n');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

export function records(file: string): Record<string, unknown>[] {
  return lines(file).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Rewrites a file from its lines (each ending in "\n"). */
export function rewrite(file: string, ls: string[]): void {
  fs.writeFileSync(file, ls.map((l) => `${l}\n`).join(''));
}
