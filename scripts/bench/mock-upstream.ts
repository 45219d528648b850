/**
 * A mock OpenAI-compatible upstream for the benchmarks (0 ms latency, node:http only, no imports
 * beyond node builtins so the harness can run it as plain node after a transpile):
 *
 *   POST /v1/chat/completions   reads and parses the whole body; non-streamed: a fixed, realistic
 *                               chat.completion; `stream: true`: exactly 20 `data:` events (the
 *                               role, 18 content deltas of a few words, then `finish_reason: stop`),
 *                               a usage chunk (`choices: []`) when `stream_options.include_usage`,
 *                               then `data: [DONE]` — each event its own res.write, like a real one.
 *   GET  /v1/models             a model list.
 *
 * Usage: tsx scripts/bench/mock-upstream.ts [PORT]   (prints the port it listens on, first line)
 */
import { createServer, type ServerResponse } from 'node:http';

const MODEL = 'gpt-4o-mini-2024-07-18';
const CREATED = 1_735_689_600;
const FINGERPRINT = 'fp_0aa8d3e20b';
/** The streamed answer, a few words a delta; joined it is also the non-streamed answer. */
const DELTAS = [
  'Sure! Here is',
  ' a short overview',
  ' of how an',
  ' LLM router works:',
  ' it accepts OpenAI-compatible',
  ' requests from your',
  ' applications, checks the',
  ' caller\'s key and',
  ' limits, picks a',
  ' target from the',
  ' route, forwards the',
  ' request upstream and',
  ' streams the answer',
  ' back as it',
  ' arrives, falling back',
  ' to another target',
  ' when one fails.',
  ' Anything else?',
];
const CONTENT = DELTAS.join('');
const USAGE = { prompt_tokens: 27, completion_tokens: 64, total_tokens: 91, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } };

const completion = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-BENCHmock0000000000000000001',
    object: 'chat.completion',
    created: CREATED,
    model: MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: CONTENT, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage: USAGE,
    service_tier: 'default',
    system_fingerprint: FINGERPRINT,
  }),
);

const chunk = (choices: unknown[], extra: object = {}) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-BENCHmock0000000000000000001', object: 'chat.completion.chunk', created: CREATED, model: MODEL, service_tier: 'default', system_fingerprint: FINGERPRINT, choices, ...extra })}\n\n`;
/** Exactly 20 events: role, 18 content deltas, finish_reason. */
const EVENTS: string[] = [
  chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]),
  ...DELTAS.map((d) => chunk([{ index: 0, delta: { content: d }, logprobs: null, finish_reason: null }])),
  chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]),
];
if (EVENTS.length !== 20) throw new Error(`mock upstream: ${EVENTS.length} events, expected 20`);
const USAGE_EVENT = chunk([], { usage: USAGE });
const DONE = 'data: [DONE]\n\n';

const models = Buffer.from(
  JSON.stringify({
    object: 'list',
    data: ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'text-embedding-3-small'].map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'system' })),
  }),
);

function sendJson(res: ServerResponse, status: number, body: Buffer | string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'openai-processing-ms': '0', 'x-request-id': 'req_bench' });
  res.end(body);
}

function error(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: null } }));
}

function chat(res: ServerResponse, raw: Buffer): void {
  let body: { stream?: unknown; stream_options?: { include_usage?: unknown } | null; messages?: unknown };
  try {
    body = JSON.parse(raw.toString('utf8')) as typeof body;
  } catch {
    return error(res, 400, 'We could not parse the JSON body of your request.');
  }
  if (!body || typeof body !== 'object' || !Array.isArray(body.messages)) return error(res, 400, "Missing required parameter: 'messages'.");
  if (body.stream !== true) return sendJson(res, 200, completion);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': 'req_bench' });
  for (const e of EVENTS) res.write(e);
  if (body.stream_options?.include_usage === true) res.write(USAGE_EVENT);
  res.end(DONE);
}

const server = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const url = req.url ?? '/';
    if (req.method === 'POST' && url.startsWith('/v1/chat/completions')) return chat(res, Buffer.concat(parts));
    if (req.method === 'GET' && url.startsWith('/v1/models')) return sendJson(res, 200, models);
    if (req.method === 'GET' && url === '/healthz') return sendJson(res, 200, '{"ok":true}');
    error(res, 404, `Unknown request URL: ${req.method} ${url}`);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : ''}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
