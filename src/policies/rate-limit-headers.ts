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

/** The most constraining state of a kind (least remaining, then latest reset). */
export function tightest(states: readonly BucketState[]): BucketState | undefined {
  let best: BucketState | undefined;
  for (const s of states) {
    if (!best || s.remaining < best.remaining || (s.remaining === best.remaining && s.resetMs > best.resetMs)) best = s;
  }
  return best;
}

/** x-ratelimit-{limit,remaining,reset}-{requests,tokens} from the request and token buckets. */
export function rateLimitHeaders(requests: readonly BucketState[], tokens: readonly BucketState[]): Record<string, string> {
  const out: Record<string, string> = {};
  const r = tightest(requests);
  if (r) {
    out['x-ratelimit-limit-requests'] = String(r.limit);
    out['x-ratelimit-remaining-requests'] = String(Math.max(0, Math.floor(r.remaining)));
    out['x-ratelimit-reset-requests'] = formatResetDuration(r.resetMs);
  }
  const t = tightest(tokens);
  if (t) {
    out['x-ratelimit-limit-tokens'] = String(t.limit);
    out['x-ratelimit-remaining-tokens'] = String(Math.max(0, Math.floor(t.remaining)));
    out['x-ratelimit-reset-tokens'] = formatResetDuration(t.resetMs);
  }
  return out;
}
