import type { ProviderErrorKind } from '../core/provider-error.js';

/** One call to one target, as recorded for headers, logs and metrics. */
export interface Attempt {
  provider: string;
  model: string;
  /** 'ok' or the error kind. */
  outcome: 'ok' | ProviderErrorKind;
  ms: number;
  /** performance.now() when the call started (for trace spans). */
  startedAt?: number;
  /** Short reason, never a secret. */
  message?: string;
}

/** `x-router-attempts`: number of calls and distinct targets, e.g. "3; targets=2". */
export function formatAttemptsHeader(attempts: readonly Attempt[]): string {
  const targets = new Set(attempts.map((a) => `${a.provider}/${a.model}`)).size;
  return `${attempts.length}; targets=${targets}`;
}

/** `x-router-fallback`: where the request fell back from and why, e.g. "openai/gpt-4o-mini:rate_limit". */
export function formatFallbackHeader(attempts: readonly Attempt[]): string | undefined {
  const served = attempts.at(-1);
  const failed = attempts.filter((a) => a.outcome !== 'ok' && !(a.provider === served?.provider && a.model === served?.model));
  if (!failed.length) return undefined;
  const seen = new Map<string, string>();
  for (const a of failed) seen.set(`${a.provider}/${a.model}`, a.outcome);
  return [...seen].map(([t, kind]) => `${t}:${kind}`).join(', ');
}
