import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { describe, expect, it } from 'vitest';
import { countsAgainstHealth, isTransient, ProviderError } from '../../../src/core/provider-error.js';
import {
  classifyOpenAIError,
  excerpt,
  parseDurationMs,
  retryAfterMsFromHeaders,
  safeToken,
  scrubSecrets,
  UpstreamAnswerError,
} from '../../../providers/openai/openai-error.js';
import { ResponseTooLargeError, UnsupportedFetchError } from '../../../providers/shared/node-fetch.js';

const P = 'openai-main';

/** An SDK error exactly as the client builds it from an HTTP answer. */
function statusError(status: number, error: Record<string, unknown> | undefined, headers: Record<string, string> = {}): APIError {
  return APIError.generate(status, error ? { error } : undefined, undefined, new Headers(headers));
}

function withCode(err: Error, code: string): Error {
  return Object.assign(err, { code });
}

describe('classifyOpenAIError: HTTP statuses', () => {
  const cases: Array<[number, string, boolean]> = [
    [400, 'invalid_request', false],
    [413, 'invalid_request', false],
    [422, 'invalid_request', false],
    [401, 'auth', true],
    [403, 'auth', true],
    [404, 'not_found', true],
    [408, 'timeout', true],
    [409, 'server', true],
    [425, 'server', true],
    [429, 'rate_limit', true],
    [500, 'server', true],
    [502, 'server', true],
    [503, 'server', true],
    [504, 'server', true],
  ];
  it.each(cases)('%i → %s (retryable %s)', (status, kind, retryable) => {
    const e = classifyOpenAIError(statusError(status, { message: 'boom', type: 'x', code: null, param: null }), P);
    expect(e).toBeInstanceOf(ProviderError);
    expect(e.kind).toBe(kind);
    expect(e.retryable).toBe(retryable);
    expect(e.status).toBe(status);
    expect(e.provider).toBe(P);
    // The app reads a generic message naming the provider; operators read what happened.
    expect(e.message).toContain(`provider ${P}`);
    expect(e.message.includes('boom')).toBe(kind === 'invalid_request');
    expect(e.detail).toContain(P);
    expect(e.detail).toContain('boom');
    expect(e.detail).toContain(String(status));
  });

  it('400 carries the upstream param and code', () => {
    const e = classifyOpenAIError(statusError(400, { message: "Invalid 'temperature'", type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' }), P);
    expect(e).toMatchObject({ kind: 'invalid_request', param: 'temperature', code: 'invalid_value', retryable: false });
  });

  it('400 without a body still classifies, with a null param', () => {
    const e = classifyOpenAIError(statusError(400, undefined), P);
    expect(e).toMatchObject({ kind: 'invalid_request', param: null, status: 400 });
  });

  it('429 insufficient_quota: rate_limit with the code, no retry-after (waiting on this key is pointless)', () => {
    const e = classifyOpenAIError(statusError(429, { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' }, { 'retry-after': '20' }), P);
    expect(e).toMatchObject({ kind: 'rate_limit', code: 'insufficient_quota', retryable: true, retryAfterMs: undefined });
    expect(e.message).toMatch(/quota/);
  });

  it('503 honours retry-after too', () => {
    expect(classifyOpenAIError(statusError(503, undefined, { 'retry-after': '3' }), P)).toMatchObject({ kind: 'server', retryAfterMs: 3000 });
  });
});

describe('classifyOpenAIError: retry-after variants on 429', () => {
  const now = () => Date.parse('2025-01-01T00:00:00Z');
  const cases: Array<[string, Record<string, string>, number | undefined]> = [
    ['retry-after-ms', { 'retry-after-ms': '1500' }, 1500],
    ['retry-after-ms fractional', { 'retry-after-ms': '12.2' }, 13],
    ['retry-after seconds', { 'retry-after': '2' }, 2000],
    ['retry-after fractional seconds', { 'retry-after': '0.5' }, 500],
    ['retry-after HTTP date', { 'retry-after': 'Wed, 01 Jan 2025 00:00:07 GMT' }, 7000],
    ['retry-after date in the past', { 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }, 0],
    ['retry-after-ms wins over retry-after', { 'retry-after-ms': '250', 'retry-after': '9' }, 250],
    ['x-ratelimit-reset-requests', { 'x-ratelimit-reset-requests': '6m0s' }, 360_000],
    ['x-ratelimit-reset-tokens ms', { 'x-ratelimit-reset-tokens': '20ms' }, 20],
    ['exhausted budget chosen', { 'x-ratelimit-reset-requests': '6m0s', 'x-ratelimit-remaining-requests': '5', 'x-ratelimit-reset-tokens': '1s', 'x-ratelimit-remaining-tokens': '0' }, 1000],
    ['both resets, none said exhausted: the longer', { 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '1m30s' }, 90_000],
    ['retry-after wins over resets', { 'retry-after': '1', 'x-ratelimit-reset-requests': '6m0s' }, 1000],
    ['garbage', { 'retry-after': 'soon', 'x-ratelimit-reset-requests': 'later' }, undefined],
    ['none', {}, undefined],
  ];
  it.each(cases)('%s', (_name, headers, expected) => {
    const e = classifyOpenAIError(statusError(429, { message: 'slow down', code: 'rate_limit_exceeded' }, headers), P, { now });
    expect(e.kind).toBe('rate_limit');
    expect(e.retryAfterMs).toBe(expected);
  });

  it('reads plain header records too', () => {
    expect(retryAfterMsFromHeaders({ 'Retry-After': '4' })).toBe(4000);
  });

  it.each([
    ['1s', 1000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1h2m3.5s', 3_723_500],
    ['0s', 0],
    ['7', undefined],
    ['abc', undefined],
    ['1s junk', undefined],
  ] as const)('parseDurationMs(%s) = %s', (v, ms) => {
    expect(parseDurationMs(v)).toBe(ms);
  });
});

describe('classifyOpenAIError: transport failures', () => {
  it('caller abort (SDK) → aborted, not retryable', () => {
    expect(classifyOpenAIError(new APIUserAbortError(), P)).toMatchObject({ kind: 'aborted', retryable: false });
  });

  it('DOMException AbortError → aborted', () => {
    expect(classifyOpenAIError(new DOMException('This operation was aborted', 'AbortError'), P).kind).toBe('aborted');
  });

  it('SDK connection timeout → timeout', () => {
    expect(classifyOpenAIError(new APIConnectionTimeoutError(), P)).toMatchObject({ kind: 'timeout', retryable: true });
  });

  it('SDK connection error with ECONNREFUSED cause → network', () => {
    const cause = new TypeError('fetch failed', { cause: withCode(new Error('connect ECONNREFUSED 127.0.0.1:9'), 'ECONNREFUSED') });
    const e = classifyOpenAIError(new APIConnectionError({ cause }), P);
    expect(e).toMatchObject({ kind: 'network', retryable: true });
    expect(e.message).toBe(`provider ${P} unreachable`);
    expect(e.detail).toContain('ECONNREFUSED 127.0.0.1:9');
  });

  it('SDK connection error with a connect-timeout cause → timeout', () => {
    const cause = new TypeError('fetch failed', { cause: withCode(new Error('Connect Timeout Error'), 'UND_ERR_CONNECT_TIMEOUT') });
    expect(classifyOpenAIError(new APIConnectionError({ cause }), P).kind).toBe('timeout');
  });

  it.each([
    ['ECONNRESET', withCode(new Error('read ECONNRESET'), 'ECONNRESET')],
    ['ECONNREFUSED', withCode(new Error('connect ECONNREFUSED'), 'ECONNREFUSED')],
    ['socket hang up', new Error('socket hang up')],
    ['fetch failed', new TypeError('fetch failed')],
    ['undici terminated (stream cut)', new TypeError('terminated', { cause: withCode(new Error('other side closed'), 'UND_ERR_SOCKET') })],
  ])('plain %s → network', (_n, err) => {
    expect(classifyOpenAIError(err, P)).toMatchObject({ kind: 'network', retryable: true });
  });

  it.each([
    ['ETIMEDOUT', withCode(new Error('connect ETIMEDOUT'), 'ETIMEDOUT')],
    ['headers timeout', withCode(new Error('Headers Timeout Error'), 'UND_ERR_HEADERS_TIMEOUT')],
  ])('plain %s → timeout', (_n, err) => {
    expect(classifyOpenAIError(err, P).kind).toBe('timeout');
  });
});

describe('classifyOpenAIError: bad answers with a success status', () => {
  it('200 with an error body → server, retryable, upstream message kept', () => {
    const body = { error: { message: 'The server had an error while processing your request.', type: 'server_error', code: null } };
    const e = classifyOpenAIError(new UpstreamAnswerError('upstream answered 200 with an error body', body), P);
    expect(e).toMatchObject({ kind: 'server', retryable: true });
    expect(e.message).toBe(`provider ${P} failed`);
    expect(e.detail).toContain('The server had an error');
  });

  it('an error body that names a status (vLLM style) is classified by it', () => {
    const body = { object: 'error', message: 'This model only supports 4096 tokens', type: 'BadRequestError', code: 400 };
    expect(classifyOpenAIError(new UpstreamAnswerError('upstream answered 200 with an error body', body), P)).toMatchObject({ kind: 'invalid_request', status: 400 });
  });

  it('an error event inside an SSE stream (SDK APIError without status) → server, retryable', () => {
    const e = classifyOpenAIError(new APIError(undefined, { message: 'overloaded', type: 'server_error' }, undefined, undefined), P);
    expect(e).toMatchObject({ kind: 'server', retryable: true, status: undefined });
    expect(e.detail).toContain('overloaded');
  });

  it('a rate-limit error event inside a stream → rate_limit', () => {
    expect(classifyOpenAIError(new APIError(undefined, { message: 'slow', code: 'rate_limit_exceeded' }, undefined, undefined), P).kind).toBe('rate_limit');
  });

  it('malformed JSON → server, retryable', () => {
    let err: unknown;
    try {
      JSON.parse('{"choices":[');
    } catch (e) {
      err = e;
    }
    expect(classifyOpenAIError(err, P)).toMatchObject({ kind: 'server', retryable: true });
  });

  it('a cut stream reported as network keeps that kind', () => {
    expect(classifyOpenAIError(new UpstreamAnswerError('stream cut', undefined, 'network'), P).kind).toBe('network');
  });

  it('a ProviderError passes through untouched', () => {
    const pe = new ProviderError({ kind: 'capacity', provider: 'x', message: 'x: full' });
    expect(classifyOpenAIError(pe, P)).toBe(pe);
  });

  it('a too-large answer → server, retryable, code upstream_response_too_large (raw from a stream, or wrapped by the SDK)', () => {
    for (const err of [new ResponseTooLargeError(1024, 'line'), new APIConnectionError({ cause: new ResponseTooLargeError(2048, 'body') })]) {
      const e = classifyOpenAIError(err, P);
      expect(e).toMatchObject({ kind: 'server', retryable: true, code: 'upstream_response_too_large' });
      expect(e.message).toBe(`provider ${P} answer too large`);
      expect(e.detail).toMatch(/larger than max(Event|Response)Bytes/);
    }
  });
});

describe('classifyOpenAIError: failures that are not the upstream\'s', () => {
  const thrownBy = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (e) {
      return e;
    }
    throw new Error('did not throw');
  };
  const deep = (): unknown => {
    let o: unknown = {};
    for (let i = 0; i < 200_000; i++) o = { o };
    return o;
  };
  const cyclic = (): unknown => {
    const o: Record<string, unknown> = {};
    o.self = o;
    return o;
  };

  it.each([
    ['stack overflow serialising a deep body (RangeError)', () => thrownBy(() => JSON.stringify(deep()))],
    ['a cyclic body (TypeError)', () => thrownBy(() => JSON.stringify(cyclic()))],
    ['a BigInt (TypeError)', () => thrownBy(() => JSON.stringify({ n: 1n }))],
    ['a plain Error', () => new Error('weird')],
    ['a router misuse of fetch', () => new APIConnectionError({ cause: new UnsupportedFetchError('Request input') })],
  ])('%s → internal: not retried, not counted against the target', (_name, make) => {
    const e = classifyOpenAIError(make(), P);
    expect(e).toMatchObject({ kind: 'internal', retryable: false, provider: P });
    expect(countsAgainstHealth(e.kind)).toBe(false);
    expect(isTransient(e.kind)).toBe(false);
    expect(e.message).toBe(`provider ${P}: the router failed to make the call`);
    expect(e.detail).toContain('the router failed building or reading the call');
  });
});

describe('secret scrubbing', () => {
  it('removes sk- keys from upstream messages and drops the unscrubbed cause', () => {
    const err = statusError(401, { message: 'Incorrect API key provided: sk-proj-AbCdEf1234567890XYZ. You can find your API key at …', code: 'invalid_api_key' });
    const e = classifyOpenAIError(err, P);
    expect(e.kind).toBe('auth');
    expect(e.message).not.toContain('AbCdEf1234567890XYZ');
    expect(e.detail).not.toContain('AbCdEf1234567890XYZ');
    expect(e.detail).toContain('sk-***');
    expect(e.cause).toBeUndefined();
  });

  it('removes configured secrets that do not look like sk- keys', () => {
    const secret = 'az-0123456789abcdef0123456789abcdef';
    const err = new APIConnectionError({ cause: new Error(`proxy said: bad key ${secret}`) });
    const e = classifyOpenAIError(err, P, { secrets: [secret] });
    expect(e.message).not.toContain(secret);
    expect(e.detail).toContain('proxy said: bad key ***');
    expect(JSON.stringify(e)).not.toContain(secret);
    expect(e.cause).toBeUndefined();
  });

  it('keeps the cause of a transport failure that holds no secret, never of an upstream answer', () => {
    const transport = new APIConnectionError({ cause: withCode(new Error('connect ECONNREFUSED 127.0.0.1:9'), 'ECONNREFUSED') });
    expect(classifyOpenAIError(transport, P).cause).toBe(transport);
    expect(classifyOpenAIError(statusError(500, { message: 'oops' }), P).cause).toBeUndefined();
  });

  const KEY = 'sk-proj-Zq9Xw8Vu7Ts6Rq5Po4Nm3Lk2';
  const AZ = '0123456789abcdef0123456789abcdef';

  it.each([
    ['OpenAI key in param', { message: 'bad', param: KEY, code: 'invalid_value' }, [KEY]],
    ['OpenAI key in code', { message: 'bad', param: 'messages', code: `invalid_api_key_${KEY}` }, [KEY]],
    ['Azure key in param', { message: 'bad', param: AZ, code: 'invalid_value' }, [AZ]],
    ['Azure key in code (not configured: looks like a token)', { message: 'bad', param: 'messages', code: AZ }, []],
    ['a piece of the configured key', { message: 'bad', param: AZ.slice(4, 20), code: 'x' }, [AZ]],
    ['a header echoed into param', { message: 'bad', param: `Bearer ${KEY}`, code: 'x' }, [KEY]],
    ['the key in the message', { message: `Incorrect API key provided: ${AZ}`, param: 'messages', code: 'x' }, [AZ]],
  ] as const)('400 with %s: no secret reaches code, param, message or detail', (_n, error, secrets) => {
    const e = classifyOpenAIError(statusError(400, error), P, { secrets });
    const all = JSON.stringify({ m: e.message, d: e.detail, p: e.param, c: e.code, e });
    for (const s of [KEY, AZ, AZ.slice(4, 20)]) expect(all).not.toContain(s);
    expect(e.kind).toBe('invalid_request');
  });

  it('a JSON {"error": "…"} string is the upstream\'s explanation; raw text is not', () => {
    const e = classifyOpenAIError(APIError.generate(400, { error: 'messages must not be empty' }, undefined, new Headers()), P);
    expect(e.message).toBe(`provider ${P} rejected the request: messages must not be empty`);
  });

  it('safe codes and params still pass', () => {
    const e = classifyOpenAIError(statusError(400, { message: "Invalid 'messages[0].content'", param: 'messages[0].content', code: 'context_length_exceeded' }), P, { secrets: [KEY] });
    expect(e).toMatchObject({ param: 'messages[0].content', code: 'context_length_exceeded' });
    expect(e.message).toBe(`provider ${P} rejected the request: Invalid 'messages[0].content'`);
  });

  it.each([
    ['temperature', 'temperature'],
    ['messages[0].content', 'messages[0].content'],
    ['invalid_api_key', 'invalid_api_key'],
    ['a b', null],
    ['x'.repeat(65), null],
    ['', null],
    [KEY, null],
    [AZ, null],
    ['param"}', null],
    [42, null],
  ] as const)('safeToken(%j) = %j', (v, out) => {
    expect(safeToken(v, [KEY])).toBe(out);
  });

  it('a non-JSON error body: the app never sees its bytes, operators see them scrubbed', () => {
    const raw = `<html>bad gateway for key ${AZ} and ${KEY}</html>`;
    const err = APIError.generate(502, undefined, raw, new Headers());
    const e = classifyOpenAIError(err, P, { secrets: [AZ] });
    expect(e.message).toBe(`provider ${P} failed (upstream status 502)`);
    expect(e.detail).toContain('<html>bad gateway for key *** and sk-***');
    expect(JSON.stringify({ m: e.message, d: e.detail, e })).not.toMatch(new RegExp(`${AZ}|${KEY}`));
    // A 400 with a raw body: the app gets no upstream text either (only a JSON error message is an explanation).
    const bad = classifyOpenAIError(APIError.generate(400, undefined, raw, new Headers()), P, { secrets: [AZ] });
    expect(bad.message).toBe(`provider ${P} rejected the request (upstream status 400)`);
  });

  it('a JSON parse error never quotes the body, not even to operators', () => {
    const err = (() => {
      try {
        JSON.parse(`x${AZ} not json`);
      } catch (e) {
        return e;
      }
    })();
    expect(String((err as Error).message)).toContain(AZ.slice(0, 9)); // what Node's message leaks
    const e = classifyOpenAIError(err, P, { secrets: [] });
    expect(JSON.stringify({ m: e.message, d: e.detail, e })).not.toContain(AZ.slice(0, 9));
    expect(e.cause).toBeUndefined();
  });

  it('excerpt scrubs before it clips, and drops a secret cut by its window', () => {
    const text = `${'x'.repeat(290)} ${AZ} tail`;
    expect(excerpt(text, [AZ], 300)).not.toContain(AZ.slice(0, 8));
    const long = `${'y'.repeat(16 * 1024 - 10)}${AZ}`;
    expect(excerpt(long, [AZ], 20_000)).not.toContain(AZ.slice(0, 8));
    expect(excerpt('a\nb\u0000c', [])).toBe('a b c');
  });

  it.each([
    ['Authorization: Bearer abcdefghijklmnop', 'abcdefghijklmnop'],
    ['{"api-key":"0123456789abcdef"}', '0123456789abcdef'],
    ['key=sk-live_1234567890abcdef', 'sk-live_1234567890abcdef'],
  ])('scrubSecrets(%s)', (text, secret) => {
    const out = scrubSecrets(text);
    expect(out).not.toContain(secret);
    expect(out).toContain('***');
  });
});
