/**
 * The one place where failures of an OpenAI-style upstream (OpenAI, Azure OpenAI, any
 * OpenAI-compatible server) become a ProviderError. Retry, fallback and breakers read only
 * the kind and retryability chosen here.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { ProviderError, type ProviderErrorInit, type ProviderErrorKind } from '../../src/core/provider-error.js';
import { isObj } from '../../src/wire/openai-wire.js';

/**
 * An answer that arrived with a success status but is not usable: a 200 carrying
 * `{"error":{...}}`, JSON that is not a chat completion, a stream that stopped before a
 * finish_reason. Thrown by chat-complete.ts so that the classifier stays the only mapper.
 */
export class UpstreamAnswerError extends Error {
  constructor(
    message: string,
    /** The parsed upstream body, when there was one. */
    readonly body?: unknown,
    /** Kind when the shape alone tells (a cut stream is a network failure, a bad body a server one). */
    readonly kind: 'server' | 'network' = 'server',
  ) {
    super(message);
    this.name = 'UpstreamAnswerError';
  }
}

export interface ClassifyOptions {
  /** Configured secrets (API keys, tokens) that must never appear in a message. */
  secrets?: readonly string[];
  /** Clock for HTTP-date retry-after values. */
  now?: () => number;
}


/** Replaces anything that looks like a key (and every configured secret) with `***`. */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  // Longest first so a key that contains another is not half-replaced.
  for (const s of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  return out
    .replace(/\bsk-[A-Za-z0-9_*\-]{6,}/g, 'sk-***')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]{6,}/gi, '$1 ***')
    .replace(/\b(api-key|authorization)(["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, '$1$2***');
}

/** Go-style durations as in x-ratelimit-reset-*: "1s", "6m0s", "20ms", "1h2m3.5s". */
export function parseDurationMs(value: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (const m of value.trim().matchAll(re)) {
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
    consumed += m[0].length;
  }
  return consumed > 0 && consumed === value.trim().length ? Math.ceil(total) : undefined;
}

type HeaderSource = Headers | Record<string, string | undefined> | undefined;

function header(headers: HeaderSource, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const rec = headers as Record<string, string | undefined>;
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : rec[key];
}

/**
 * How long the upstream asks us to wait, from (in order of precision) `retry-after-ms`,
 * `retry-after` (seconds or an HTTP date), or OpenAI's `x-ratelimit-reset-*` durations.
 */
export function retryAfterMsFromHeaders(headers: HeaderSource, now: () => number = Date.now): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Math.ceil(Number(ms));
  const ra = header(headers, 'retry-after');
  if (ra !== undefined && ra.trim() !== '') {
    const secs = Number(ra);
    if (Number.isFinite(secs) && secs >= 0) return Math.ceil(secs * 1000);
    const date = Date.parse(ra);
    if (Number.isFinite(date)) return Math.max(0, date - now());
  }
  // Prefer the budget that is actually exhausted; if the upstream does not say, wait for both.
  const resets: number[] = [];
  for (const which of ['requests', 'tokens']) {
    const reset = header(headers, `x-ratelimit-reset-${which}`);
    const parsed = reset === undefined ? undefined : parseDurationMs(reset);
    if (parsed === undefined) continue;
    if (header(headers, `x-ratelimit-remaining-${which}`) === '0') return parsed;
    resets.push(parsed);
  }
  return resets.length ? Math.max(...resets) : undefined;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN',
  'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Walks `cause` links: undici hides the socket error under "fetch failed" / "terminated". */
function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let cur: unknown = err;
  while (cur != null && chain.length < 6 && !chain.includes(cur)) {
    chain.push(cur);
    cur = isObj(cur) || cur instanceof Error ? (cur as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

function transportKind(err: unknown): 'network' | 'timeout' | undefined {
  let kind: 'network' | undefined;
  // A timeout anywhere in the chain wins: undici wraps it in a generic "fetch failed".
  for (const e of causeChain(err)) {
    if (!isObj(e) && !(e instanceof Error)) continue;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return 'timeout';
    if (typeof code === 'string' && NETWORK_CODES.has(code)) kind = 'network';
    const msg = String((e as { message?: unknown }).message ?? '');
    if (/socket hang up|fetch failed|^terminated$|other side closed|network error/i.test(msg)) kind = 'network';
  }
  return kind;
}

interface UpstreamErrorBody {
  message?: string;
  code?: string | null;
  param?: string | null;
  type?: string;
  /** A status some compatible servers (vLLM) put inside the body. */
  status?: number;
}

/** Reads `{"error":{...}}`, a bare error object, or vLLM's `{"object":"error",...}`. */
function readErrorBody(body: unknown): UpstreamErrorBody | undefined {
  const e = isObj(body) && isObj(body.error) ? body.error : isObj(body) ? body : undefined;
  if (!e) return typeof body === 'string' && body ? { message: body } : undefined;
  const out: UpstreamErrorBody = {};
  if (typeof e.message === 'string') out.message = e.message;
  else if (typeof body === 'object' && isObj(body) && typeof body.error === 'string') out.message = body.error;
  if (typeof e.code === 'string') out.code = e.code;
  if (typeof e.param === 'string') out.param = e.param;
  if (typeof e.type === 'string') out.type = e.type;
  const status = typeof e.code === 'number' ? e.code : typeof e.status === 'number' ? e.status : undefined;
  if (status !== undefined && status >= 400 && status <= 599) out.status = status;
  return out;
}

interface StatusClass {
  kind: ProviderErrorKind;
  retryable?: boolean;
  label: string;
}

function classifyStatus(status: number, body: UpstreamErrorBody | undefined): StatusClass {
  if (status === 401 || status === 403) {
    // The router chose the key, not the app: another key or provider may well work.
    return { kind: 'auth', retryable: true, label: status === 401 ? 'rejected the API key' : 'refused access' };
  }
  // The model/deployment name comes from router config, so another target may have it.
  if (status === 404) return { kind: 'not_found', retryable: true, label: 'has no such model or deployment' };
  if (status === 408) return { kind: 'timeout', label: 'timed out the request' };
  if (status === 409 || status === 425) return { kind: 'server', retryable: true, label: 'reported a transient conflict' };
  if (status === 429) {
    const quota = body?.code === 'insufficient_quota' || body?.type === 'insufficient_quota';
    return { kind: 'rate_limit', label: quota ? 'reports the quota exhausted' : 'is rate limiting' };
  }
  if (status >= 500) return { kind: 'server', label: 'failed' };
  if (status >= 400) return { kind: 'invalid_request', label: 'rejected the request' };
  return { kind: 'server', label: `answered an unexpected status` };
}

/**
 * Maps any failure of a call to an OpenAI-style upstream to a ProviderError. Messages name
 * the provider and are scrubbed of keys; the original error is kept as `cause` only when
 * scrubbing did not have to touch its message.
 */
export function classifyOpenAIError(err: unknown, providerId: string, opts: ClassifyOptions = {}): ProviderError {
  if (err instanceof ProviderError) return err;
  const secrets = opts.secrets ?? [];
  const now = opts.now ?? Date.now;
  const make = (kind: ProviderErrorKind, detail: string, extra: Partial<ProviderErrorInit> = {}) => {
    const raw = `${providerId}: ${detail}`;
    const message = scrubSecrets(raw, secrets);
    const rawCause = err instanceof Error ? err.message : String(err);
    const keepCause = scrubSecrets(rawCause, secrets) === rawCause;
    return new ProviderError({ kind, provider: providerId, message, ...(keepCause ? { cause: err } : {}), ...extra });
  };

  // Order matters: the SDK's abort and timeout errors are APIErrors (subclasses of APIConnectionError).
  if (err instanceof APIUserAbortError || (err instanceof Error && err.name === 'AbortError')) {
    return make('aborted', 'request aborted');
  }
  if (err instanceof APIConnectionTimeoutError) return make('timeout', `upstream timed out${err.message ? ` (${err.message})` : ''}`);
  if (err instanceof APIConnectionError) {
    const t = transportKind(err) ?? 'network';
    return make(t, t === 'timeout' ? 'upstream connection timed out' : `cannot reach upstream: ${describeCause(err)}`);
  }
  if (err instanceof APIError) {
    const body = readErrorBody(err.error);
    const status = err.status ?? body?.status;
    const upstreamMsg = body?.message ?? err.message;
    if (status === undefined) {
      // An `error` event inside a 200 SSE stream: the upstream failed mid-answer.
      return make(body?.code === 'rate_limit_exceeded' ? 'rate_limit' : 'server', `upstream sent an error in the stream: ${upstreamMsg}`, {
        code: body?.code ?? null,
        retryable: true,
      });
    }
    return fromStatus(make, status, body, upstreamMsg, err.headers, now);
  }
  if (err instanceof UpstreamAnswerError) {
    const body = readErrorBody(err.body);
    if (err.body !== undefined && body?.status !== undefined) {
      return fromStatus(make, body.status, body, `${err.message}: ${body.message ?? ''}`.trim(), undefined, now);
    }
    const detail = body?.message && err.body !== undefined ? `${err.message}: ${body.message}` : err.message;
    return make(err.kind, detail, { retryable: true, code: body?.code ?? null });
  }
  if (err instanceof SyntaxError) return make('server', `upstream sent malformed JSON (${err.message})`, { retryable: true });

  const transport = transportKind(err);
  if (transport) return make(transport, transport === 'timeout' ? 'upstream connection timed out' : `cannot reach upstream: ${describeCause(err)}`);
  const msg = err instanceof Error ? err.message : String(err);
  return make('server', `unexpected upstream failure: ${msg}`, { retryable: true });
}

function fromStatus(
  make: (kind: ProviderErrorKind, detail: string, extra?: Partial<ProviderErrorInit>) => ProviderError,
  status: number,
  body: UpstreamErrorBody | undefined,
  upstreamMsg: string,
  headers: HeaderSource,
  now: () => number,
): ProviderError {
  const cls = classifyStatus(status, body);
  const quota = cls.kind === 'rate_limit' && body?.code === 'insufficient_quota';
  // A quota that is used up will not come back in seconds; waiting on this key is pointless.
  const retryAfterMs = quota ? undefined : retryAfterMsFromHeaders(headers, now);
  return make(cls.kind, `upstream ${cls.label} (${status}): ${upstreamMsg}`, {
    status,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(cls.retryable !== undefined ? { retryable: cls.retryable } : {}),
    ...(cls.kind === 'invalid_request' ? { param: body?.param ?? null } : {}),
    code: body?.code ?? null,
  });
}

function describeCause(err: unknown): string {
  const parts: string[] = [];
  for (const e of causeChain(err)) {
    if (!(e instanceof Error) && !isObj(e)) continue;
    const code = (e as { code?: unknown }).code;
    const msg = String((e as { message?: unknown }).message ?? '');
    const part = typeof code === 'string' && !msg.includes(code) ? `${msg} [${code}]` : msg;
    if (part && !parts.includes(part)) parts.push(part);
  }
  return parts.join(': ') || 'connection failed';
}
