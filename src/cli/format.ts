/** How the CLI writes numbers, times and money in its tables. */

/** A count or milliseconds; "-" for none. */
export const formatCount = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : String(Math.round(n)));

/** Milliseconds with a unit, one decimal below 10 ms: "0.8ms", "640ms", "4.2s". */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 10_000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(1)}s`;
}

/** USD with six places (a cheap model's request costs micro-dollars); "-" when unknown. */
export const formatUsd = (usd: number | null | undefined): string => (usd === null || usd === undefined ? '-' : usd.toFixed(6));

/** A span as people say it: "45s", "12m", "3h05m", "2d04h". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** An ISO time and how long ago it was: "2026-03-01 10:00:00Z (12m ago)"; "-" when absent or unreadable. */
export function formatSince(iso: string | null | undefined, nowMs: number): string {
  const t = iso ? Date.parse(iso) : NaN;
  if (!Number.isFinite(t)) return '-';
  return `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')}Z (${formatAge(nowMs - t)} ago)`;
}
