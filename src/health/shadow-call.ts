import type { ChatRequest } from '../core/chat-request.js';
import type { Usage } from '../core/chat-response.js';
import { isProviderError, type ProviderErrorKind } from '../core/provider-error.js';
import type { Provider, Target } from '../core/provider.js';
import { startDeadline } from '../core/deadline.js';
import { collectStream } from './collect-stream.js';
import { judgeAnswer } from './judge-answer.js';

/**
 * How one shadow call went.
 * - good: answered in time with sane output.
 * - bad: failed, timed out, or answered with empty or malformed output.
 * - inconclusive: the upstream called the request itself invalid; says nothing about health.
 * - cancelled: the gate stopped it (the target left probation, or the gate closed).
 */
export type ShadowOutcome = 'good' | 'bad' | 'inconclusive' | 'cancelled';

export interface ShadowVerdict {
  outcome: ShadowOutcome;
  latencyMs: number;
  /** Time to the first chunk, when the shadow call was streamed. */
  ttftMs?: number;
  usage?: Usage;
  /** Why it was not good: error kind (or 'bad_output') and a short message. */
  error?: { kind: ProviderErrorKind | 'bad_output'; message: string };
}

/**
 * The copy of a live request sent to a recovering target: streamed when the live one was (so
 * time to first token is measured on the path apps use), marked in its request id, and without
 * fields that would make the upstream keep it (`store`).
 */
export function shadowCopy(req: ChatRequest): ChatRequest {
  const { store: _store, stream_options: _streamOptions, ...passthrough } = req.passthrough;
  return { ...req, includeUsage: false, passthrough, meta: { ...req.meta, requestId: `${req.meta.requestId}.shadow` } };
}

/** One call of the copy, streamed or not, read whole. */
async function call(provider: Provider, target: Target, req: ChatRequest, signal: AbortSignal, started: number, now: () => number) {
  if (!req.stream) return { response: await provider.chat(req, target, { signal }) };
  return collectStream(await provider.stream(req, target, { signal }), started, now);
}

/**
 * Runs one shadow call with its own deadline; `cancel` aborts it from outside. The call is raced
 * against the deadline so a provider that ignores its signal still ends on time. Never rejects.
 */
export async function runShadowCall(
  provider: Provider,
  target: Target,
  req: ChatRequest,
  opts: { timeoutMs: number; cancel: AbortSignal; now: () => number },
): Promise<ShadowVerdict> {
  const started = opts.now();
  const deadline = startDeadline({ parents: [opts.cancel], ms: opts.timeoutMs, timeoutReason: () => new DOMException('shadow call timed out', 'TimeoutError') });
  const stopped = deadline.aborted.then(() => 'stopped' as const);
  try {
    if (opts.cancel.aborted) return { outcome: 'cancelled', latencyMs: 0 };
    const got = await Promise.race([call(provider, target, req, deadline.signal, started, opts.now), stopped]);
    const latencyMs = opts.now() - started;
    if (got === 'stopped') return stoppedVerdict(deadline.timedOut(), latencyMs, opts.timeoutMs);
    const res = got.response;
    const ttft = 'ttftMs' in got && got.ttftMs !== undefined ? { ttftMs: got.ttftMs } : {};
    const why = judgeAnswer(req, res);
    if (why) return { outcome: 'bad', latencyMs, ...ttft, usage: res.usage, error: { kind: 'bad_output', message: why } };
    return { outcome: 'good', latencyMs, ...ttft, usage: res.usage };
  } catch (err) {
    const latencyMs = opts.now() - started;
    if (deadline.signal.aborted) return stoppedVerdict(deadline.timedOut(), latencyMs, opts.timeoutMs);
    if (isProviderError(err)) {
      return { outcome: err.kind === 'invalid_request' ? 'inconclusive' : 'bad', latencyMs, error: { kind: err.kind, message: err.detail ?? err.message } };
    }
    return { outcome: 'bad', latencyMs, error: { kind: 'server', message: err instanceof Error ? err.message : 'shadow call failed' } };
  } finally {
    // Frees the upstream call if it is still running (cancelled or raced out).
    deadline.abort();
    deadline.dispose();
  }
}

function stoppedVerdict(timedOut: boolean, latencyMs: number, timeoutMs: number): ShadowVerdict {
  return timedOut
    ? { outcome: 'bad', latencyMs, error: { kind: 'timeout', message: `no answer within ${timeoutMs} ms` } }
    : { outcome: 'cancelled', latencyMs };
}
