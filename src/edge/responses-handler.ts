/**
 * The Responses API over the router's chat path:
 *
 *   POST   /responses        a Response (JSON, or the Responses event stream with stream: true)
 *   GET    /responses/:id    a stored Response
 *   DELETE /responses/:id    `{id, object: 'response', deleted: true}`
 *
 * A request is translated into a chat completion body and run through the chat handler
 * in-process (internal-stream.ts), so every policy applies unchanged: limits, budgets and cost,
 * content filters, the cache, routing, fallback, breakers, shadow traffic, the local model. The
 * answer is translated back; an error keeps its status and OpenAI error body (`param` renamed to
 * the Responses field). Stored responses live in the session store (response-store.ts), scoped
 * to the caller's key: another key's id is "not found".
 */
import type { RequestHandler, Response, Router } from 'express';
import type { Logger } from 'pino';
import type { ChatMessage } from '../core/chat-request.js';
import type { Identity } from '../identity/types.js';
import type { SessionStore } from '../sessions/session-types.js';
import { FieldError } from '../wire/responses/field-error.js';
import { parseResponsesRequest, type ResponsesRequest } from '../wire/responses/parse-responses-request.js';
import { chatCompletionSchema, fromChatCompletion, newId, type ResponseEnvelope } from '../wire/responses/response-object.js';
import { deleteResponse, loadResponse, saveResponse } from '../wire/responses/response-store.js';
import { formatResponsesEvent, ResponsesStreamEncoder, type ResponsesEvent } from '../wire/responses/responses-stream.js';
import { responsesParamOf, toChatBody } from '../wire/responses/to-chat-body.js';
import type { Obj } from '../wire/wire-common.js';
import { identityOf } from './client-auth.js';
import { wireError } from './http-errors.js';
import { chatError, clientSignal, errorOf, forwardedHeaders, forwardHeaders, runChatInternally, send, writeFrames, type ChatHandler, type ChatSink } from './internal-stream.js';
import { SSE_HEADERS } from './sse.js';

export interface ResponsesDeps {
  /** The chat path; created with the shutdown registry, the drain waits for these requests too. */
  chat: ChatHandler;
  /** The session store in force; undefined: sessions are off (nothing is stored, previous_response_id is refused). */
  sessions: () => SessionStore | undefined;
  logger: Logger;
  /** The JSON body parser of the chat endpoint (the live `server.bodyLimit`). */
  jsonBody: RequestHandler;
  /** Deepest JSON nesting accepted (server.limits.maxDepth). */
  maxDepth?: () => number;
}

const notFound = (id: string) => wireError(404, `Response with id '${id}' not found.`, 'invalid_request_error', 'response_id', 'response_not_found');

interface Turn {
  req: ResponsesRequest;
  env: ResponseEnvelope;
  identity: Identity;
  /** The previous response's conversation. */
  history: ChatMessage[];
  /** Store the answer (asked for, and a store exists). */
  store: SessionStore | undefined;
  log: Logger;
}

async function save(turn: Turn, response: Obj): Promise<boolean> {
  if (!turn.store) return false;
  try {
    await saveResponse(turn.store, turn.identity.keyId, response, turn.history, turn.req.input);
    return true;
  } catch (err) {
    // The app has its answer; only a later GET or previous_response_id will miss it, which the log says.
    turn.log.warn({ response: turn.env.id, err: (err as Error).message }, 'the response could not be stored');
    return false;
  }
}

export function mountResponses(router: Router, deps: ResponsesDeps): void {
  router.post('/responses', deps.jsonBody, async (req, res) => {
    const requestId = res.locals.requestId as string;
    const receivedAt = (res.locals.receivedAt as number | undefined) ?? performance.now();
    const identity = identityOf(res.locals);
    const log = deps.logger.child({ requestId });
    let turn: Turn;
    let body: Record<string, unknown>;
    try {
      const r = parseResponsesRequest(req.body, { maxDepth: deps.maxDepth?.() });
      const sessions = deps.sessions();
      let history: ChatMessage[] = [];
      if (r.previousResponseId !== null) {
        if (!sessions) throw new FieldError('Stored responses are off on this router (sessions.enabled: false): previous_response_id cannot be used.', 'previous_response_id', 'unsupported_parameter');
        const prev = await loadResponse(sessions, r.previousResponseId, identity.keyId);
        if (!prev) return send(res, wireError(404, `Previous response with id '${r.previousResponseId}' not found.`, 'invalid_request_error', 'previous_response_id', 'previous_response_not_found'));
        history = prev.conversation;
      }
      // The Response says whether it was kept: not when sessions are off.
      const store = r.store ? sessions : undefined;
      r.store = store !== undefined;
      body = toChatBody(r, history);
      turn = { req: r, env: { id: newId('resp'), createdAt: Math.floor(Date.now() / 1000) }, identity, history, store, log };
    } catch (err) {
      return send(res, errorOf(err));
    }
    const opts = { identity, requestId, receivedAt, signal: clientSignal(res), headers: forwardHeaders(req) };
    if (turn.req.stream) return streamResponse(deps, turn, body, opts, res);

    const answer = await runChatInternally(deps.chat, body, opts);
    if (res.destroyed) return;
    for (const [k, v] of Object.entries(forwardedHeaders(answer.headers))) res.setHeader(k, v);
    if (answer.status !== 200) return send(res, chatError(answer.status, answer.body, responsesParamOf));
    const completion = chatCompletionSchema.safeParse(answer.body);
    if (!completion.success) {
      log.error({ err: completion.error.message }, 'the chat path answered something other than a chat completion');
      return send(res, wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error'));
    }
    const response = fromChatCompletion(turn.req, turn.env, completion.data);
    // Stored before the app has it: its next request may name it at once.
    if (turn.store && !(await save(turn, response))) response.store = false;
    res.status(200).json(response);
  });

  router.get('/responses/:id', async (req, res) => {
    const id = req.params.id;
    if (req.query.stream !== undefined && req.query.stream !== 'false') {
      return send(res, wireError(400, 'Streaming a stored response again is not served by the router: GET it without stream.', 'invalid_request_error', 'stream', 'unsupported_parameter'));
    }
    const store = deps.sessions();
    if (!store) return send(res, notFound(id));
    try {
      const stored = await loadResponse(store, id, identityOf(res.locals).keyId);
      if (!stored) return send(res, notFound(id));
      res.json(stored.response);
    } catch (err) {
      send(res, errorOf(err));
    }
  });

  router.delete('/responses/:id', async (req, res) => {
    const id = req.params.id;
    const store = deps.sessions();
    if (!store) return send(res, notFound(id));
    try {
      if (!(await deleteResponse(store, id, identityOf(res.locals).keyId))) return send(res, notFound(id));
      res.json({ id, object: 'response', deleted: true });
    } catch (err) {
      send(res, errorOf(err));
    }
  });
}

async function streamResponse(deps: ResponsesDeps, turn: Turn, body: Record<string, unknown>, opts: Parameters<typeof runChatInternally>[2], res: Response): Promise<void> {
  const encoder = new ResponsesStreamEncoder(turn.req, turn.env);
  let head = false;
  const writeHead = (headers: Record<string, string>) => {
    if (head) return;
    head = true;
    for (const [k, v] of Object.entries(forwardedHeaders(headers))) res.setHeader(k, v);
    res.writeHead(200, SSE_HEADERS);
  };
  const frames = (events: readonly ResponsesEvent[]) => events.map(formatResponsesEvent);
  const sink: ChatSink = {
    start: (_status, headers) => writeHead(headers),
    event(data) {
      const events = encoder.push(data);
      const last = events[events.length - 1];
      const final = last && (last.type === 'response.completed' || last.type === 'response.incomplete') ? last : undefined;
      if (!final || !turn.store) return writeFrames(res, frames(events));
      // Stored before the final event reaches the app: its next request may name it at once.
      const before = writeFrames(res, frames(events.slice(0, -1)));
      return (async () => {
        await before;
        const response = final.response as Obj;
        if (!(await save(turn, response))) response.store = false;
        await writeFrames(res, frames([final]));
      })();
    },
  };
  const answer = await runChatInternally(deps.chat, body, { ...opts, sink });
  if (res.destroyed) return;
  if (!answer.streamed) {
    // Refused or failed before the stream started: the HTTP error, as the chat path gives it.
    for (const [k, v] of Object.entries(forwardedHeaders(answer.headers))) res.setHeader(k, v);
    if (answer.status === 200) {
      turn.log.error('the chat path answered a stream request with JSON');
      return send(res, wireError(500, 'The router failed to process the request.', 'server_error', null, 'internal_error'));
    }
    return send(res, chatError(answer.status, answer.body, responsesParamOf));
  }
  // A stream that stopped without its end (never the case unless the chat path broke): said, not silent.
  if (!encoder.done) await writeFrames(res, frames(encoder.fail({ message: 'The stream ended before the answer was complete.', code: 'server_error' })));
  res.end();
}
