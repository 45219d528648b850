/**
 * What to send to an OpenAI-style chat completions endpoint and how to read the answer, for
 * OpenAI and Azure alike (where to send it is api.ts's business). The body is built and the
 * answer read only through src/wire/; every failure goes through the one classifier, so
 * callers only ever see ProviderErrors (a failure building the call too: kind `internal`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { APIError, APIUserAbortError } from 'openai';
import type { ChatRequest } from '../../src/core/chat-request.js';
import type { ChatChunk, ChatResponse, ChatStream } from '../../src/core/chat-response.js';
import type { ProviderError } from '../../src/core/provider-error.js';
import type { CallOptions, Target } from '../../src/core/provider.js';
import { fromWireChunk, fromWireResponse } from '../../src/wire/upstream-response.js';
import { isObj } from '../../src/wire/wire-common.js';
import { toWireRequest } from '../../src/wire/upstream-request.js';
import type { Deadline } from '../../src/core/deadline.js';
import { deadlineError, type CallHeaders, type UpstreamApi } from './api.js';
import { CallTimeoutError, type EventQueue, type WholeAnswer } from '../shared/upstream-http.js';
import { classifyOpenAIError, UpstreamAnswerError } from './openai-error.js';


/** Events read before `stream()` resolves while looking for the answering model (Azure opens with an empty one). */
const MAX_HEAD_EVENTS = 8;

/** Classifies a failed call: the caller's abort wins, then the call's own deadline, then what the upstream did. */
export function classify(api: UpstreamApi, err: unknown, signal: AbortSignal, deadline?: Deadline): ProviderError {
  // The caller's abort wins over whatever the transport made of it (fetch rethrows custom reasons).
  if (signal.aborted) return classifyOpenAIError(new APIUserAbortError(), api.providerId, { secrets: api.secrets });
  const cause = deadline?.timedOut() || err instanceof CallTimeoutError ? deadlineError(api.timeoutMs) : err;
  return classifyOpenAIError(cause, api.providerId, { secrets: api.secrets });
}

function parseBody(data: unknown): unknown {
  // The SDK hands back text when the content-type is not JSON; some servers mislabel JSON.
  return typeof data === 'string' ? JSON.parse(data) : data;
}

/** Reads a non-streamed answer; anything but a chat completion is an upstream failure. */
function readAnswer(data: unknown): ChatResponse {
  const json = parseBody(data);
  if (isObj(json) && json.error != null && !Array.isArray(json.choices)) {
    throw new UpstreamAnswerError('upstream answered 200 with an error body', json);
  }
  try {
    return fromWireResponse(json);
  } catch (err) {
    throw new UpstreamAnswerError(`upstream answer is not a chat completion (${(err as Error).message})`);
  }
}

/** Builds the wire body; a failure here is the router's, classified like every other. */
function buildBody(api: UpstreamApi, req: ChatRequest, model: string, stream: boolean): Record<string, unknown> {
  try {
    return toWireRequest(stream ? { ...req, stream: true } : { ...req, stream: false, includeUsage: false }, model);
  } catch (err) {
    throw classifyOpenAIError(err, api.providerId, { secrets: api.secrets });
  }
}

/** The request headers of one call: the key's, plus the W3C trace context of a traced request. */
const headersFor = (headers: CallHeaders, req: ChatRequest): CallHeaders => (req.meta.traceparent ? { ...headers, traceparent: req.meta.traceparent } : headers);

/** The body as JSON text; a failure here is the router's, classified like every other. */
function serialise(api: UpstreamApi, body: Record<string, unknown>): string {
  try {
    return JSON.stringify(body);
  } catch (err) {
    throw classifyOpenAIError(err, api.providerId, { secrets: api.secrets });
  }
}

/** WHATWG Headers of an answer, for the SDK's error classes (built only on the error path). */
function toHeaders(h: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    try {
      if (Array.isArray(v)) for (const x of v) out.append(k, x);
      else out.set(k, String(v));
    } catch {
      // A header value WHATWG refuses: not needed to classify the failure.
    }
  }
  return out;
}

/** A non-2xx answer as the SDK reports it (status, parsed error body or text, headers), for the one classifier. */
function statusError(answer: WholeAnswer): APIError {
  const text = answer.body.toString('utf8');
  const json = safeJson(text);
  const parsed = typeof json === 'string' ? undefined : (json as object);
  return APIError.generate(answer.status, parsed, parsed ? undefined : text, toHeaders(answer.headers));
}

/** One non-streamed call. */
export async function chatComplete(api: UpstreamApi, req: ChatRequest, target: Target, opts: CallOptions): Promise<ChatResponse> {
  const route = api.chatRoute(target.model);
  const body = serialise(api, buildBody(api, req, route.model, false));
  return api.withHeaders(async (headers) => {
    // The call's timeout covers queueing for a connection, the answer's headers and reading its body.
    try {
      const answer = await api.http.postWhole({ path: route.path, headers: headersFor(headers, req), body, signal: opts.signal, timeoutMs: api.timeoutMs });
      if (answer.status < 200 || answer.status > 299) throw statusError(answer);
      return readAnswer(answer.body.toString('utf8'));
    } catch (err) {
      throw classify(api, err, opts.signal);
    }
  });
}

interface StreamHead {
  events: unknown[];
  ended: boolean;
  id?: string;
  model?: string;
  systemFingerprint?: string | null;
  promptFilterResults: unknown[];
}

/** End of a stream's events (the upstream's [DONE], or its end). */
const END: unique symbol = Symbol('end');

/**
 * The upstream stream as the SDK reads it: `[DONE]` ends it (what follows is read and
 * ignored), every other event is JSON, and one holding `error` is the upstream failing mid-answer.
 */
class UpstreamEvents {
  private done = false;
  constructor(
    readonly queue: EventQueue,
    private readonly headers: IncomingHttpHeaders,
  ) {}

  /** The next event's value without waiting: END, or undefined when none has arrived yet. */
  poll(): unknown {
    for (;;) {
      const ev = this.queue.take();
      if (ev === undefined) {
        if (!this.queue.ended) return undefined;
        if (this.queue.error) throw this.queue.error;
        return END;
      }
      if (this.done) continue;
      if (ev.data.startsWith('[DONE]')) {
        this.done = true;
        continue;
      }
      const data: unknown = JSON.parse(ev.data);
      if (isObj(data) && data.error) throw new APIError(undefined, data.error as object, undefined, toHeaders(this.headers));
      return data;
    }
  }

  /** The next event's value, END at the end. */
  async next(): Promise<unknown> {
    for (;;) {
      const v = this.poll();
      if (v !== undefined) return v;
      await this.queue.wait();
    }
  }
}

/**
 * Reads events until one names the answering model (OpenAI: the first; Azure: the second,
 * after an event holding only prompt-filter results) so the router can name it before the
 * first byte goes out. Read events are re-yielded by the chunk iterator.
 */
async function readHead(events: UpstreamEvents): Promise<StreamHead> {
  const head: StreamHead = { events: [], ended: false, promptFilterResults: [] };
  while (head.events.length < MAX_HEAD_EVENTS) {
    const ev = await events.next();
    if (ev === END) {
      head.ended = true;
      break;
    }
    head.events.push(ev);
    if (!isObj(ev)) break; // the chunk iterator reports it
    if (Array.isArray(ev.prompt_filter_results)) head.promptFilterResults.push(...ev.prompt_filter_results);
    if (!head.id && typeof ev.id === 'string' && ev.id) head.id = ev.id;
    if (head.systemFingerprint === undefined && ev.system_fingerprint !== undefined) head.systemFingerprint = ev.system_fingerprint as string | null;
    if (typeof ev.model === 'string' && ev.model) {
      head.model = ev.model;
      break;
    }
    if (Array.isArray(ev.choices) && ev.choices.length) break;
  }
  return head;
}

/** One streamed call; resolves once the upstream answered 200 and named its model. */
export async function streamComplete(api: UpstreamApi, req: ChatRequest, target: Target, opts: CallOptions): Promise<ChatStream> {
  const route = api.chatRoute(target.model);
  const body = serialise(api, buildBody(api, req, route.model, true));
  return api.withHeaders(async (headers) => {
    let events: UpstreamEvents | undefined;
    try {
      // api.timeoutMs covers the call until its head is read (the pool's timer, stopped below).
      const answer = await api.http.postStream({ path: route.path, headers: headersFor(headers, req), body, signal: opts.signal, timeoutMs: api.timeoutMs });
      if (answer.kind === 'whole') {
        if (answer.status < 200 || answer.status > 299) throw statusError(answer);
        // A proxy or compatible server that answers a stream request with one JSON error body.
        throw new UpstreamAnswerError('upstream answered a stream request with a JSON body', safeJson(answer.body.toString('utf8')));
      }
      events = new UpstreamEvents(answer.events, answer.headers);
      const head = await readHead(events);
      // The upstream accepted and is answering; from here the router's idle timeout applies.
      answer.stopTimer();
      if (opts.signal.aborted) throw new APIUserAbortError();
      if (head.ended && head.events.length === 0) throw new UpstreamAnswerError('upstream stream ended before any event');
      const stream: ChatStream = {
        model: head.model ?? target.model,
        chunks: readChunks(api, events, head, opts.signal),
      };
      if (head.id) stream.id = head.id;
      if (head.systemFingerprint !== undefined) stream.systemFingerprint = head.systemFingerprint;
      if (head.promptFilterResults.length) stream.promptFilterResults = head.promptFilterResults;
      return stream;
    } catch (err) {
      events?.queue.close();
      throw classify(api, err, opts.signal);
    }
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The chunks of a stream. Never ends silently: an error event, a malformed chunk, a cut
 * connection, an abort, or an end before every started choice finished all throw. Events
 * that arrived together are turned into chunks without waiting in between: a hand-written
 * iterator rather than an async generator, so a chunk already at hand costs one resolved
 * promise, not a generator resumption and its extra turns of the microtask queue (per event,
 * on the hottest loop of a stream). Given up early (`return()`, or any failure), it closes the
 * upstream call.
 */
function readChunks(api: UpstreamApi, events: UpstreamEvents, head: StreamHead, signal: AbortSignal): AsyncIterableIterator<ChatChunk> {
  const started = new Set<number>();
  const finished = new Set<number>();
  /** Head events handed on so far. */
  let buffered = 0;
  /** The chunks of the last event, and how many of them were handed on. */
  let chunks: ChatChunk[] = [];
  let at = 0;
  /** Finished, failed or given up: nothing more is read. */
  let over = false;
  /** A read waiting for the upstream (a second next() meanwhile queues behind it). */
  let waiting: Promise<IteratorResult<ChatChunk>> | undefined;

  /** Stops reading before the end (given up or failed): the upstream call is closed. */
  const stop = () => {
    if (over) return;
    over = true;
    events.queue.close();
  };
  const fail = (err: unknown): Error => {
    stop();
    return classify(api, err, signal);
  };
  /** The stream's end: whole only when every started choice finished. */
  const end = (): IteratorResult<ChatChunk> => {
    if (signal.aborted) throw new APIUserAbortError();
    if (finished.size === 0) throw new UpstreamAnswerError('upstream stream ended before a finish_reason');
    const open = [...started].filter((i) => !finished.has(i));
    if (open.length) throw new UpstreamAnswerError(`upstream stream ended before choice ${open.join(', ')} finished`);
    over = true;
    return DONE;
  };
  /** The next chunk without waiting, or undefined when the upstream must be waited for. */
  const step = (): IteratorResult<ChatChunk> | undefined => {
    for (;;) {
      // Given up (return()) or failed: nothing more, not even the rest of the last event.
      if (over) return DONE;
      if (at < chunks.length) return { done: false, value: chunks[at++]! };
      let ev: unknown;
      if (buffered < head.events.length) ev = head.events[buffered++];
      else if (head.ended) return end();
      else {
        ev = events.poll();
        if (ev === undefined) return undefined;
        if (ev === END) return end();
      }
      try {
        chunks = fromWireChunk(ev);
      } catch (err) {
        throw new UpstreamAnswerError(`upstream sent a malformed stream chunk (${(err as Error).message})`);
      }
      at = 0;
      for (const c of chunks) {
        if (c.type === 'delta') started.add(c.index);
        else if (c.type === 'finish') finished.add(c.index);
      }
    }
  };
  const next = (): Promise<IteratorResult<ChatChunk>> => {
    if (waiting) return waiting.then(next);
    let r: IteratorResult<ChatChunk> | undefined;
    try {
      r = step();
    } catch (err) {
      return Promise.reject(fail(err));
    }
    if (r) return Promise.resolve(r);
    return (waiting = events.queue.wait().then(() => {
      waiting = undefined;
      return next();
    }));
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next,
    return(): Promise<IteratorResult<ChatChunk>> {
      stop();
      return Promise.resolve(DONE);
    },
  };
}
