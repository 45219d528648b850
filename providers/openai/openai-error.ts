/**
 * The one place where failures of an OpenAI-style upstream (OpenAI, Azure OpenAI, any
 * OpenAI-compatible server) become a ProviderError. Retry, fallback and breakers read only
 * the kind and retryability chosen here.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError, OpenAIError } from 'openai';
import { ProviderError, UPSTREAM_RESPONSE_TOO_LARGE, type ProviderErrorInit, type ProviderErrorKind } from '../../src/core/provider-error.js';
import { ResponseTooLargeError, UnsupportedFetchError, UpstreamProtocolError } from '../shared/node-fetch.js';
import { isObj } from '../../src/wire/wire-common.js';

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

type HeaderSource = Headers | Readonly<Record<string, string | undefined>> | undefined;

/** A header by lower-case name; plain records are searched by their own keys only. */
function header(headers: HeaderSource, name: string): string | undefined {
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
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


/** The first error in the cause chain that is an instance of `cls`. */
function findInChain<T>(err: unknown, cls: abstract new (...args: never[]) => T): T | undefined {
  return causeChain(err).find((e): e is T => e instanceof cls);
}

/** Upstream `code` and `param` values reach the app only when they look like identifiers. */
const SAFE_TOKEN = /^[A-Za-z0-9_.[\]-]{1,64}$/;
/** A long unbroken run of letters and digits is a key or a token, not an identifier. */
const TOKEN_LIKE = /[A-Za-z0-9]{24,}/;

/**
 * An upstream `code`/`param` the router may pass on: a short identifier that holds no
 * configured secret (nor a piece of one), nothing key-like; anything else becomes null.
 */
export function safeToken(value: unknown, secrets: readonly string[] = []): string | null {
  if (typeof value !== 'string' || !SAFE_TOKEN.test(value) || TOKEN_LIKE.test(value)) return null;
  if (scrubSecrets(value, secrets) !== value) return null;
  const lower = value.toLowerCase();
  for (const s of secrets) {
    if (s.length < 4) continue;
    const secret = s.toLowerCase();
    if (lower.includes(secret) || (lower.length >= 8 && secret.includes(lower))) return null;
  }
  return value;
}

/** How much of an upstream string is looked at at all (bodies can be megabytes). */
const SCRUB_WINDOW = 16 * 1024;

/**
 * A short, scrubbed, single-line excerpt of upstream text for operators (or, for an upstream's
 * own 400 explanation, the app). Scrubbed before it is clipped, so a clip never leaves half a
 * secret behind; a secret cut by the scrub window is dropped with the rest of the tail.
 */
export function excerpt(text: string, secrets: readonly string[] = [], max = 300): string {
  let head = text;
  if (head.length > SCRUB_WINDOW) {
    head = head.slice(0, SCRUB_WINDOW);
    for (const s of secrets) {
      for (let k = Math.min(s.length - 1, head.length); k >= 4; k--) {
        if (head.endsWith(s.slice(0, k))) {
          head = head.slice(0, head.length - k);
          break;
        }
      }
    }
  }
  // eslint-disable-next-line no-control-regex
  const clean = scrubSecrets(head, secrets).replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > max || head.length < text.length ? `${clean.slice(0, max)}…` : clean;
}

interface UpstreamErrorBody {
  message?: string;
  code?: string | null;
  param?: string | null;
  type?: string;
  /** A status some compatible servers (vLLM) put inside the body. */
  status?: number;
}

/** Reads `{"error":{...}}`, a bare error object, or vLLM's `{"object":"error",...}`; raw text is not an error body. */
function readErrorBody(body: unknown): UpstreamErrorBody | undefined {
  const e = isObj(body) && isObj(body.error) ? body.error : isObj(body) ? body : undefined;
  if (!e) return undefined;
  const out: UpstreamErrorBody = {};
  if (typeof e.message === 'string') out.message = e.message;
  else if (isObj(body) && typeof body.error === 'string') out.message = body.error;
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
  /** For operators: what the upstream did. */
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

/** What the app is told, per kind: the provider's name and what went wrong, nothing internal. */
function clientMessage(kind: ProviderErrorKind, providerId: string, opts: { status?: number; quota?: boolean; tooLarge?: boolean; upstream?: string } = {}): string {
  const p = `provider ${providerId}`;
  const status = opts.status !== undefined ? ` (upstream status ${opts.status})` : '';
  switch (kind) {
    case 'aborted':
      return `request to ${p} aborted`;
    case 'timeout':
      return `${p} timed out`;
    case 'network':
      return `${p} unreachable`;
    case 'auth':
      return `${p} refused the router's credentials`;
    case 'not_found':
      return `${p} has no such model or deployment`;
    case 'rate_limit':
      return opts.quota ? `${p} reports its quota exhausted` : `${p} is rate limiting`;
    case 'invalid_request':
      // The upstream's own explanation of the app's request: the app needs it to fix the request.
      return opts.upstream ? `${p} rejected the request: ${opts.upstream}` : `${p} rejected the request${status}`;
    case 'internal':
      return `${p}: the router failed to make the call`;
    case 'server':
      return opts.tooLarge ? `${p} answer too large` : `${p} failed${status}`;
    default:
      return `${p} failed`;
  }
}

/** Errors that carry upstream bytes (bodies, snippets): never kept as a cause. */
function carriesUpstreamData(err: unknown): boolean {
  return (err instanceof APIError && !(err instanceof APIConnectionError)) || err instanceof UpstreamAnswerError || err instanceof SyntaxError;
}

/** The whole cause chain as text, to check it holds no secret before it is kept. */
function chainText(err: unknown): string {
  return causeChain(err)
    .map((e) => (e instanceof Error || isObj(e) ? `${String((e as { message?: unknown }).message ?? '')} ${String((e as { code?: unknown }).code ?? '')}` : String(e)))
    .join(' ');
}

type Make = (kind: ProviderErrorKind, detail: string, extra?: Partial<ProviderErrorInit> & { client?: Parameters<typeof clientMessage>[2] }) => ProviderError;

/**
 * Maps any failure of a call to an OpenAI-style upstream to a ProviderError. The `message` is
 * what the app may read: generic per kind and naming the provider (plus, for the app's own
 * invalid request, the upstream's scrubbed explanation). The `detail` is the operator's: what
 * actually happened, scrubbed of keys. Upstream `code`/`param` pass only as safe identifiers;
 * raw upstream bytes never reach either. The original error is kept as `cause` only when it
 * carries no upstream data and no secret. Anything that is not the SDK, the transport or the
 * upstream's answer is the router's own failure: `internal`, never retried nor counted.
 */
export function classifyOpenAIError(err: unknown, providerId: string, opts: ClassifyOptions = {}): ProviderError {
  if (err instanceof ProviderError) return err;
  const secrets = opts.secrets ?? [];
  const now = opts.now ?? Date.now;
  const make: Make = (kind, detail, extra = {}) => {
    const { client, ...init } = extra;
    const raw = chainText(err);
    const keepCause = !carriesUpstreamData(err) && scrubSecrets(raw, secrets) === raw && !secrets.some((s) => s.length >= 4 && raw.includes(s));
    return new ProviderError({
      kind,
      provider: providerId,
      message: scrubSecrets(clientMessage(kind, providerId, client), secrets),
      detail: excerpt(`${providerId}: ${detail}`, secrets, 1000),
      ...(keepCause ? { cause: err } : {}),
      ...init,
    });
  };

  // Order matters: the SDK's abort and timeout errors are APIErrors (subclasses of APIConnectionError).
  if (err instanceof APIUserAbortError || (err instanceof Error && err.name === 'AbortError')) {
    return make('aborted', 'request aborted');
  }
  const tooLarge = findInChain(err, ResponseTooLargeError);
  if (tooLarge) {
    // The upstream's fault and a sign it is unwell: counted, and worth trying elsewhere.
    return make('server', tooLarge.message, { retryable: true, code: UPSTREAM_RESPONSE_TOO_LARGE, client: { tooLarge: true } });
  }
  const protocol = findInChain(err, UpstreamProtocolError);
  if (protocol) return make('server', protocol.message, { retryable: true });
  const unsupported = findInChain(err, UnsupportedFetchError);
  if (unsupported) return make('internal', `the router failed building or reading the call: ${unsupported.message}`, { retryable: false });
  if (err instanceof APIConnectionTimeoutError) return make('timeout', `upstream timed out${err.message ? ` (${err.message})` : ''}`);
  if (err instanceof APIConnectionError) {
    const t = transportKind(err) ?? 'network';
    return make(t, t === 'timeout' ? `upstream connection timed out: ${describeCause(err)}` : `cannot reach upstream: ${describeCause(err)}`);
  }
  if (err instanceof APIError) {
    // `err.error` is the parsed JSON body's `error` member (a string in `{"error":"…"}`); a
    // non-JSON body is only in the message, never taken for an explanation.
    const body = readErrorBody(typeof err.error === 'string' ? { error: err.error } : err.error);
    const status = err.status ?? body?.status;
    const upstreamMsg = body?.message ?? err.message;
    if (status === undefined) {
      // An `error` event inside a 200 SSE stream: the upstream failed mid-answer.
      return make(body?.code === 'rate_limit_exceeded' ? 'rate_limit' : 'server', `upstream sent an error in the stream: ${excerpt(upstreamMsg, secrets)}`, {
        code: safeToken(body?.code, secrets),
        retryable: true,
      });
    }
    return fromStatus(make, secrets, status, body, upstreamMsg, err.headers, now);
  }
  if (err instanceof UpstreamAnswerError) {
    const body = readErrorBody(err.body);
    if (body?.status !== undefined) {
      return fromStatus(make, secrets, body.status, body, `${err.message}: ${body.message ?? ''}`.trim(), undefined, now);
    }
    const said = body?.message ?? (typeof err.body === 'string' ? err.body : undefined);
    const detail = said ? `${err.message}: ${excerpt(said, secrets)}` : err.message;
    return make(err.kind, detail, { retryable: true, code: safeToken(body?.code, secrets) });
  }
  // JSON.parse messages quote the start of the text: never passed on, not even to operators.
  if (err instanceof SyntaxError) return make('server', 'upstream sent malformed JSON', { retryable: true });
  if (err instanceof OpenAIError && /response with no body/i.test(err.message)) return make('server', `upstream answer unreadable: ${err.message}`, { retryable: true });

  const transport = transportKind(err);
  if (transport) return make(transport, transport === 'timeout' ? `upstream connection timed out: ${describeCause(err)}` : `cannot reach upstream: ${describeCause(err)}`);
  const name = err instanceof Error ? err.name : typeof err;
  const msg = err instanceof Error ? err.message : String(err);
  return make('internal', `the router failed building or reading the call: ${name}: ${msg}`, { retryable: false });
}

function fromStatus(
  make: Make,
  secrets: readonly string[],
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
  // Only a JSON error body's own message is the upstream's explanation; raw text is not passed on.
  const explained = cls.kind === 'invalid_request' && body?.message ? excerpt(body.message, secrets, 1000) : undefined;
  return make(cls.kind, `upstream ${cls.label} (${status}): ${excerpt(upstreamMsg, secrets)}`, {
    status,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(cls.retryable !== undefined ? { retryable: cls.retryable } : {}),
    ...(cls.kind === 'invalid_request' ? { param: safeToken(body?.param, secrets) } : {}),
    code: safeToken(body?.code, secrets),
    client: { status, quota, ...(explained ? { upstream: explained } : {}) },
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
