/** OpenAI's rate-limit headers, in OpenAI's formats (reset as Go durations: "1s", "6m0s", "20ms"). */
import type { BucketState } from '../state/types.js';

/** A duration as OpenAI writes x-ratelimit-reset-*: "20ms", "1s", "1m30s", "6m0s", "1h2m3s". */
export function formatResetDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  let s = Math.ceil(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/** The more constraining of two states (least remaining, then latest reset; the first on a tie). */
export function tighter(best: BucketState | undefined, s: BucketState): BucketState {
  return !best || s.remaining < best.remaining || (s.remaining === best.remaining && s.resetMs > best.resetMs) ? s : best;
}

/** The most constraining state of a kind (least remaining, then latest reset). */
export function tightest(states: readonly BucketState[]): BucketState | undefined {
  let best: BucketState | undefined;
  for (const s of states) best = tighter(best, s);
  return best;
}

/** x-ratelimit-{limit,remaining,reset}-{requests,tokens} from the request and token buckets. */
export function rateLimitHeaders(requests: readonly BucketState[], tokens: readonly BucketState[]): Record<string, string> {
  return rateLimitHeadersOf(tightest(requests), tightest(tokens));
}

/** The same headers from the tightest request and token bucket already picked (the policy folds them in one loop, no arrays). */
export function rateLimitHeadersOf(r: BucketState | undefined, t: BucketState | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (r) {
    out['x-ratelimit-limit-requests'] = String(r.limit);
    out['x-ratelimit-remaining-requests'] = String(Math.max(0, Math.floor(r.remaining)));
    out['x-ratelimit-reset-requests'] = formatResetDuration(r.resetMs);
  }
  if (t) {
    out['x-ratelimit-limit-tokens'] = String(t.limit);
    out['x-ratelimit-remaining-tokens'] = String(Math.max(0, Math.floor(t.remaining)));
    out['x-ratelimit-reset-tokens'] = formatResetDuration(t.resetMs);
  }
  return out;
}
