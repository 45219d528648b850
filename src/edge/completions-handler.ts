/**
 * The legacy Completions API (POST /completions) over the router's chat path: each prompt is
 * one chat request (the prompt as one user message) run through the chat handler in-process
 * (internal-stream.ts), so every policy applies unchanged (limits, budgets, cost, filters, the
 * cache, routing, fallback, the local model), and the answers are put together as one
 * `text_completion`. Several prompts run a few at a time, or in turn when streamed (their
 * chunks then follow each other, choice indexes offset per prompt).
 */
import { startDeadline } from '../core/deadline.js';
import type { RequestHandler, Response, Router } from 'express';
import type { Logger } from 'pino';
import { chatCompletionSchema, newCompletionId, toTextCompletion, type ChatCompletion } from '../wire/completions/completion-object.js';
import { CompletionsStreamEncoder } from '../wire/completions/completions-stream.js';
import { completionsParamOf, parseCompletionsRequest, toChatBody, type CompletionsRequest } from '../wire/completions/parse-completions-request.js';
import { COST_HEADER } from './chat-handler.js';
import { identityOf } from './client-auth.js';
import { wireError, type WireError } from './http-errors.js';
import { chatError, clientSignal, errorOf, forwardedHeaders, forwardHeaders, runChatInternally, send, writeFrames, type ChatHandler, type InternalChatOptions, type InternalChatResult } from './internal-stream.js';
import { SSE_HEADERS } from './sse.js';

export interface CompletionsDeps {
  /** The chat path; created with the shutdown registry, the drain waits for these requests too. */
  chat: ChatHandler;
  logger: Logger;
  /** The JSON body parser of the chat endpoint (the live `server.bodyLimit`). */
  jsonBody: RequestHandler;
  /** Deepest JSON nesting accepted (server.limits.maxDepth). */
  maxDepth?: () => number;
}

/** Prompts of one request served at once (each holds its own limits reservation). */
const PROMPT_CONCURRENCY = 4;

const frame = (data: string) => `data: ${data}\n\n`;

/** Runs `fn` over `items`, at most `limit` at a time, results in order. */
async function bounded<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The cost header summed over prompts; absent when any part's price is unknown. */
function summedCost(answers: readonly InternalChatResult[]): string | undefined {
  let sum = 0;
  for (const a of answers) {
    const v = a.headers[COST_HEADER];
    if (v === undefined) return undefined;
    sum += Number(v);
  }
  return sum.toFixed(9).replace(/\.?0+$/, '') || '0';
}

export function mountCompletions(router: Router, deps: CompletionsDeps): void {
  router.post('/completions', deps.jsonBody, async (req, res) => {
    const requestId = res.locals.requestId as string;
    let parsed: CompletionsRequest;
    try {
      parsed = parseCompletionsRequest(req.body, { maxDepth: deps.maxDepth?.() });
    } catch (err) {
      return send(res, errorOf(err));
    }
    const base = {
      identity: identityOf(res.locals),
      receivedAt: (res.locals.receivedAt as number | undefined) ?? performance.now(),
      signal: clientSignal(res),
      headers: forwardHeaders(req),
    };
    // One request id per prompt when there are several (usage records and logs tell them apart).
    const idOf = (p: number) => (parsed.prompts.length > 1 ? `${requestId}-${p}` : requestId);
    const id = newCompletionId();
    const created = Math.floor(Date.now() / 1000);
    if (parsed.stream) return streamCompletions(deps, parsed, res, { ...base, requestId }, idOf, id, created);
    await jsonCompletions(deps, parsed, res, base, idOf, id, created);
  });
}

async function jsonCompletions(deps: CompletionsDeps, parsed: CompletionsRequest, res: Response, base: Omit<InternalChatOptions, 'requestId'>, idOf: (p: number) => string, id: string, created: number): Promise<void> {
  // The first failure stops the prompts still running: the app gets that error, not a partial answer.
  const stop = startDeadline({ parents: [base.signal] });
  const signal = stop.signal;
  let failed: { p: number; answer: InternalChatResult } | undefined;
  const answers = await bounded(parsed.prompts, PROMPT_CONCURRENCY, async (prompt, p) => {
    if (signal.aborted) return undefined;
    const answer = await runChatInternally(deps.chat, toChatBody(parsed, prompt), { ...base, signal, requestId: idOf(p) });
    if (answer.status !== 200 && !failed) {
      failed = { p, answer };
      stop.abort();
    }
    return answer;
  }).finally(() => stop.dispose());
  if (res.destroyed) return;
  const first = failed?.answer ?? answers[0]!;
  for (const [k, v] of Object.entries(forwardedHeaders(first.headers))) res.setHeader(k, v);
  if (failed) return send(res, chatError(failed.answer.status, failed.answer.body, completionsParamOf));
  const completions: ChatCompletion[] = [];
  for (const a of answers) {
    const c = chatCompletionSchema.safeParse(a!.body);
    if (!c.success) {
      deps.logger.error({ requestId: idOf(0), err: c.error.message }, 'the chat path answered something other than a chat completion');
      return send(res, wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error'));
    }
    completions.push(c.data);
  }
  if (answers.length > 1) {
    const cost = summedCost(answers as InternalChatResult[]);
    if (cost === undefined) res.removeHeader(COST_HEADER);
    else res.setHeader(COST_HEADER, cost);
  }
  res.status(200).json(toTextCompletion(parsed, completions, id, created));
}

async function streamCompletions(deps: CompletionsDeps, parsed: CompletionsRequest, res: Response, opts: InternalChatOptions, idOf: (p: number) => string, id: string, created: number): Promise<void> {
  const encoder = new CompletionsStreamEncoder(parsed, id, created);
  let head = false;
  for (let p = 0; p < parsed.prompts.length && !encoder.done; p++) {
    const answer = await runChatInternally(deps.chat, toChatBody(parsed, parsed.prompts[p]!), {
      ...opts,
      requestId: idOf(p),
      sink: {
        start(_status, headers) {
          if (head) return;
          head = true;
          for (const [k, v] of Object.entries(forwardedHeaders(headers))) res.setHeader(k, v);
          res.writeHead(200, SSE_HEADERS);
        },
        event: (data) => writeFrames(res, encoder.push(p, data).out.map(frame)),
      },
    });
    if (res.destroyed) return;
    if (answer.streamed) continue;
    const e: WireError = chatError(answer.status === 200 ? 500 : answer.status, answer.body, completionsParamOf);
    if (!head) {
      // Refused before any byte went out: the HTTP error, as the chat path gives it.
      for (const [k, v] of Object.entries(forwardedHeaders(answer.headers))) res.setHeader(k, v);
      return send(res, e);
    }
    // A later prompt failed after the stream started: said in-stream, never a silent end.
    await writeFrames(res, encoder.fail(e.body).map(frame));
  }
  if (!encoder.done) await writeFrames(res, encoder.finish().map(frame));
  res.end();
}
