/**
 * fast-check generators of what a hostile or careless client sends: request bodies that are
 * almost right (wrong types, out-of-range numbers, unknown and prototype-named fields, deep
 * nesting, odd Unicode), raw JSON text that is cut or corrupted, header sets, and raw HTTP.
 */
import fc from 'fast-check';

/** Names that live on Object.prototype or look like operators. */
export const trickyNames = fc.constantFrom('toString', 'valueOf', '__proto__', 'constructor', '__defineGetter__', 'hasOwnProperty', 'prototype', '$ne', '', ' ', 'chat ', 'CHAT', 'chat\u0000', 'ch\u200bat');

const oddString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', '\u0000', '\ud800', '😀'.repeat(50), 'a'.repeat(3000), '你好'.repeat(500), '${OPENAI_API_KEY}', '<script>', '\r\n\r\n'),
);

const oddNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 1, 2 ** 31, 2 ** 53, Number.MAX_SAFE_INTEGER, 1e308, -1e308, 0.5, 128, 129),
);

/** Any JSON value, small. */
const anyJson = fc.jsonValue({ maxDepth: 3 });

/** Deeply nested arrays/objects around a leaf: these break recursive walkers. */
export const deepValue = fc.record({ depth: fc.integer({ min: 60, max: 5000 }), kind: fc.constantFrom('[', '{"a":') }).map(({ depth, kind }) =>
  kind === '[' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth),
);

const role = fc.oneof(fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool', 'function'), oddString);
const part = fc.oneof(
  fc.record({ type: fc.constant('text'), text: oddString }),
  fc.record({ type: fc.constantFrom('image_url', 'input_audio', 'file', ''), image_url: anyJson }, { requiredKeys: ['type'] }),
  anyJson,
);
const content = fc.oneof(oddString, fc.array(part, { maxLength: 3 }), fc.constant(null), oddNumber, anyJson);
const toolCall = fc.record({ id: oddString, type: fc.oneof(fc.constant('function'), oddString), function: fc.record({ name: oddString, arguments: fc.oneof(oddString, anyJson) }) }, { requiredKeys: [] });
const message = fc.record(
  { role, content, name: oddString, tool_calls: fc.oneof(fc.array(toolCall, { maxLength: 2 }), anyJson), tool_call_id: oddString, refusal: fc.oneof(oddString, fc.constant(null)) },
  { requiredKeys: ['role'] },
);
const tool = fc.record({ type: fc.oneof(fc.constant('function'), oddString), function: fc.record({ name: fc.oneof(fc.constantFrom('get_weather', 'x'), oddString), parameters: anyJson, description: oddString }, { requiredKeys: ['name'] }) }, { requiredKeys: [] });

/** A chat request body as an object: each field present or not, right or wrong. */
export const chatBody = fc.record(
  {
    model: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('chat', 'local-ish') }, trickyNames, oddString, oddNumber, anyJson),
    messages: fc.oneof({ weight: 4, arbitrary: fc.array(message, { minLength: 1, maxLength: 4 }) }, fc.constant([]), anyJson),
    max_tokens: fc.oneof(oddNumber, oddString, fc.constant(null)),
    max_completion_tokens: oddNumber,
    n: fc.oneof(oddNumber, fc.integer({ min: 1, max: 200 })),
    temperature: fc.oneof(oddNumber, oddString),
    top_p: oddNumber,
    stop: fc.oneof(oddString, fc.array(oddString, { maxLength: 6 }), oddNumber),
    seed: oddNumber,
    stream: fc.oneof({ weight: 3, arbitrary: fc.boolean() }, oddString, fc.constant(null)),
    stream_options: fc.oneof(fc.record({ include_usage: fc.oneof(fc.boolean(), oddString) }), anyJson),
    response_format: fc.oneof(fc.record({ type: fc.constantFrom('text', 'json_object', 'json_schema', 'xml') }), fc.record({ type: fc.constant('json_schema'), json_schema: fc.record({ name: oddString, schema: anyJson }, { requiredKeys: [] }) }), anyJson),
    tools: fc.oneof(fc.array(tool, { maxLength: 3 }), anyJson),
    tool_choice: fc.oneof(fc.constantFrom('none', 'auto', 'required'), anyJson),
    user: fc.oneof(oddString, oddNumber),
    metadata: anyJson,
    logit_bias: anyJson,
    __proto__: anyJson,
    constructor: anyJson,
    toString: anyJson,
  },
  { requiredKeys: [] },
);

/** A request body as text: a generated object, any JSON, a deep nest, or a corrupted serialisation. */
export const bodyText = fc.oneof(
  { weight: 6, arbitrary: chatBody.map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.tuple(chatBody, fc.constantFrom('metadata', 'messages', 'tools', 'response_format', 'x'), deepValue).map(([b, k, d]) => JSON.stringify(b).replace(/^\{/, `{"${k}":${d},`)) },
  { weight: 1, arbitrary: fc.tuple(chatBody, fc.nat(), fc.string({ maxLength: 5 })).map(([b, at, junk]) => {
    const s = JSON.stringify(b);
    const i = at % (s.length + 1);
    return s.slice(0, i) + junk + s.slice(i + junk.length);
  }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
);

const headerValue = fc.oneof(
  fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,60}$/),
  fc.constantFrom('', ' ', 'Bearer', 'Bearer ', 'Bearer  ', 'Basic Zm9vOmJhcg==', 'bearer sk-wrong', 'Bearer ' + 'x'.repeat(4000)),
);

/** Extra request headers a client may send (names and values that HTTP allows). */
export const headerSet = fc.dictionary(
  fc.oneof(fc.constantFrom('authorization', 'api-key', 'x-request-id', 'content-type', 'x-session-id', 'accept', 'x-forwarded-for', 'origin', 'openai-organization', 'expect'), fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/)),
  headerValue,
  { maxKeys: 6 },
);

/** Raw HTTP requests, from plausible to garbage. */
export const rawRequest = fc.oneof(
  fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'BREW', 'G E T'), fc.constantFrom('/v1/chat/completions', '/v1/models', '/healthz', 'http://[bad/v1/chat/completions', '*', '/../../etc/passwd', '/v1/models/%zz', '/%00', '/v1/chat/completions?x=' + 'a'.repeat(9000)), fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/9.9', ''), fc.array(fc.constantFrom('Host: x', 'Content-Length: 5', 'Content-Length: -1', 'Content-Length: 99999999999', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip', 'X: \u0001', 'Bad Header', ': empty', 'Content-Type: application/json'), { maxLength: 4 }), fc.string({ maxLength: 30 }))
    .map(([m, p, v, hs, body]) => `${m} ${p} ${v}\r\n${hs.join('\r\n')}${hs.length ? '\r\n' : ''}\r\n${body}`),
  fc.string({ unit: 'binary', maxLength: 300 }),
);
