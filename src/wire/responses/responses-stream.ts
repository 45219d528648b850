/**
 * Router → app: the chat path's stream (chat.completion.chunk events, an in-stream error, the
 * [DONE] marker) as the Responses API event sequence:
 *
 *   response.created, response.in_progress,
 *   per text:      output_item.added (message), content_part.added, output_text.delta…,
 *                  output_text.done, content_part.done, output_item.done
 *   per tool call: output_item.added (function_call), function_call_arguments.delta…,
 *                  function_call_arguments.done, output_item.done
 *   then response.completed | response.incomplete; on an in-stream error: error, response.failed.
 *
 * Every event has a `sequence_number`. The message item closes when the first tool call starts
 * (text after tool calls opens a new one); function calls close at the end, so argument deltas
 * of calls a provider interleaves still land on their own item.
 */
import { z } from 'zod';
import type { Obj } from '../wire-common.js';
import { chatUsageSchema, functionCallItem, newId, responseShell, statusOf, toResponseUsage, type ChatUsage, type ResponseEnvelope } from './response-object.js';
import type { ResponsesRequest } from './parse-responses-request.js';

/** One Responses stream event (`type` is also the SSE `event:` name). */
export type ResponsesEvent = Obj & { type: string; sequence_number: number };

const chunkSchema = z.looseObject({
  model: z.string().optional(),
  choices: z
    .array(
      z.looseObject({
        index: z.number().optional(),
        delta: z
          .looseObject({
            content: z.string().nullish(),
            refusal: z.string().nullish(),
            tool_calls: z
              .array(z.looseObject({ index: z.number().optional(), id: z.string().nullish(), function: z.looseObject({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish() }))
              .nullish(),
          })
          .nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .optional(),
  usage: chatUsageSchema.nullish(),
});

const errorSchema = z.looseObject({ error: z.looseObject({ message: z.string().optional(), type: z.string().nullish(), param: z.string().nullish(), code: z.string().nullish() }) });

interface MessageState {
  kind: 'message';
  outputIndex: number;
  id: string;
  /** content_index of the text part, once opened. */
  textIndex?: number;
  text: string;
  refusalIndex?: number;
  refusal?: string;
  parts: number;
  open: boolean;
}

interface CallState {
  kind: 'function_call';
  outputIndex: number;
  id: string;
  callId: string;
  name: string;
  args: string;
  open: boolean;
}

export class ResponsesStreamEncoder {
  private seq = 0;
  private started = false;
  private ended = false;
  private model: string;
  private readonly items: Array<MessageState | CallState> = [];
  private message: MessageState | undefined;
  private readonly calls = new Map<number, CallState>();
  private finish: string | null | undefined;
  private usage: ChatUsage | undefined;
  private finalResponse: Obj | undefined;

  constructor(
    private readonly req: ResponsesRequest,
    private readonly env: ResponseEnvelope,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.model = req.model;
  }

  /** The stream ended (completed, incomplete or failed): nothing more goes out. */
  get done(): boolean {
    return this.ended;
  }

  /** The Response of `response.completed`/`.incomplete` (what is stored), once known. */
  get response(): Obj | undefined {
    return this.finalResponse;
  }

  private ev(type: string, fields: Obj): ResponsesEvent {
    return { type, sequence_number: this.seq++, ...fields };
  }

  private shell(): Obj {
    return responseShell(this.req, this.env, this.model);
  }

  private open(out: ResponsesEvent[], model?: string): void {
    if (this.started) return;
    this.started = true;
    if (model) this.model = model;
    const response = this.shell();
    out.push(this.ev('response.created', { response }), this.ev('response.in_progress', { response }));
  }

  private closeMessage(out: ResponsesEvent[], status: string): void {
    const m = this.message;
    if (!m) return;
    this.message = undefined;
    m.open = false;
    if (m.textIndex !== undefined) {
      out.push(this.ev('response.output_text.done', { item_id: m.id, output_index: m.outputIndex, content_index: m.textIndex, text: m.text, logprobs: [] }));
      out.push(this.ev('response.content_part.done', { item_id: m.id, output_index: m.outputIndex, content_index: m.textIndex, part: { type: 'output_text', text: m.text, annotations: [], logprobs: [] } }));
    }
    if (m.refusalIndex !== undefined) {
      out.push(this.ev('response.refusal.done', { item_id: m.id, output_index: m.outputIndex, content_index: m.refusalIndex, refusal: m.refusal ?? '' }));
      out.push(this.ev('response.content_part.done', { item_id: m.id, output_index: m.outputIndex, content_index: m.refusalIndex, part: { type: 'refusal', refusal: m.refusal ?? '' } }));
    }
    out.push(this.ev('response.output_item.done', { output_index: m.outputIndex, item: this.itemOf(m, status) }));
  }

  private itemOf(s: MessageState | CallState, status: string): Obj {
    if (s.kind === 'function_call') return functionCallItem(s.id, status, s.callId, s.name, s.args);
    // Only the parts that were opened (a refusal-only message has no text part).
    const content: Obj[] = [];
    if (s.textIndex !== undefined) content.push({ type: 'output_text', text: s.text, annotations: [], logprobs: [] });
    if (s.refusalIndex !== undefined) content.push({ type: 'refusal', refusal: s.refusal ?? '' });
    return { id: s.id, type: 'message', status, role: 'assistant', content };
  }

  private messageFor(out: ResponsesEvent[]): MessageState {
    if (this.message) return this.message;
    const m: MessageState = { kind: 'message', outputIndex: this.items.length, id: newId('msg'), text: '', parts: 0, open: true };
    this.items.push(m);
    this.message = m;
    out.push(this.ev('response.output_item.added', { output_index: m.outputIndex, item: { id: m.id, type: 'message', status: 'in_progress', role: 'assistant', content: [] } }));
    return m;
  }

  private textPart(out: ResponsesEvent[]): MessageState {
    const m = this.messageFor(out);
    if (m.textIndex === undefined) {
      m.textIndex = m.parts++;
      out.push(this.ev('response.content_part.added', { item_id: m.id, output_index: m.outputIndex, content_index: m.textIndex, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } }));
    }
    return m;
  }

  private text(out: ResponsesEvent[], delta: string): void {
    const m = this.textPart(out);
    m.text += delta;
    out.push(this.ev('response.output_text.delta', { item_id: m.id, output_index: m.outputIndex, content_index: m.textIndex, delta, logprobs: [] }));
  }

  private refusal(out: ResponsesEvent[], delta: string): void {
    const m = this.messageFor(out);
    if (m.refusalIndex === undefined) {
      m.refusalIndex = m.parts++;
      m.refusal = '';
      out.push(this.ev('response.content_part.added', { item_id: m.id, output_index: m.outputIndex, content_index: m.refusalIndex, part: { type: 'refusal', refusal: '' } }));
    }
    m.refusal += delta;
    out.push(this.ev('response.refusal.delta', { item_id: m.id, output_index: m.outputIndex, content_index: m.refusalIndex, delta }));
  }

  private toolCall(out: ResponsesEvent[], index: number, id: string | null | undefined, name: string | null | undefined, args: string | null | undefined): void {
    let c = this.calls.get(index);
    if (!c) {
      this.closeMessage(out, 'completed');
      c = { kind: 'function_call', outputIndex: this.items.length, id: newId('fc'), callId: id ?? '', name: name ?? '', args: '', open: true };
      this.items.push(c);
      this.calls.set(index, c);
      out.push(this.ev('response.output_item.added', { output_index: c.outputIndex, item: functionCallItem(c.id, 'in_progress', c.callId, c.name, '') }));
    } else {
      // A provider that sends the id or the name after the first delta: the done event has them.
      if (id && !c.callId) c.callId = id;
      if (name && !c.name) c.name = name;
    }
    if (args) {
      c.args += args;
      out.push(this.ev('response.function_call_arguments.delta', { item_id: c.id, output_index: c.outputIndex, delta: args }));
    }
  }

  /** The events for one payload the chat path wrote: a chunk, an `{error}` or `'[DONE]'`. */
  push(data: unknown): ResponsesEvent[] {
    const out: ResponsesEvent[] = [];
    if (this.ended) return out;
    if (data === '[DONE]') return this.end();
    const err = errorSchema.safeParse(data);
    if (err.success) return this.fail(err.data.error);
    const parsed = chunkSchema.safeParse(data);
    if (!parsed.success) return this.fail({ message: 'The router produced an unreadable stream event.', code: 'server_error' });
    const chunk = parsed.data;
    this.open(out, chunk.model || undefined);
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices ?? []) {
      // Responses has one answer: choices other than the first are not asked for (no `n`).
      if ((choice.index ?? 0) !== 0) continue;
      const d = choice.delta;
      if (d?.content) this.text(out, d.content);
      if (d?.refusal) this.refusal(out, d.refusal);
      for (const t of d?.tool_calls ?? []) this.toolCall(out, t.index ?? 0, t.id, t.function?.name, t.function?.arguments);
      if (choice.finish_reason) this.finish = choice.finish_reason;
    }
    return out;
  }

  /** The end of the chat stream ([DONE]): every item closed, then the final Response. */
  end(): ResponsesEvent[] {
    const out: ResponsesEvent[] = [];
    if (this.ended) return out;
    this.open(out);
    if (this.finish === undefined) return [...out, ...this.fail({ message: 'The stream ended before the answer was complete.', code: 'server_error' })];
    const { status, incompleteDetails } = statusOf(this.finish);
    // An answer with neither text nor calls still has its (empty) message, as a whole answer does.
    if (this.items.length === 0) this.textPart(out);
    const itemStatus = status === 'completed' ? 'completed' : 'incomplete';
    this.closeMessage(out, itemStatus);
    for (const c of this.items) {
      if (c.kind !== 'function_call' || !c.open) continue;
      c.open = false;
      out.push(this.ev('response.function_call_arguments.done', { item_id: c.id, output_index: c.outputIndex, name: c.name, arguments: c.args }));
      out.push(this.ev('response.output_item.done', { output_index: c.outputIndex, item: this.itemOf(c, itemStatus) }));
    }
    const response: Obj = {
      ...this.shell(),
      status,
      completed_at: status === 'completed' ? this.now() : null,
      incomplete_details: incompleteDetails,
      output: this.items.map((s) => this.itemOf(s, itemStatus)),
      usage: toResponseUsage(this.usage),
    };
    this.finalResponse = response;
    this.ended = true;
    out.push(this.ev(status === 'completed' ? 'response.completed' : 'response.incomplete', { response }));
    return out;
  }

  /** An in-stream error: OpenAI's `error` event, then `response.failed` with what was produced so far. */
  fail(error: { message?: string | undefined; code?: string | null | undefined; param?: string | null | undefined }): ResponsesEvent[] {
    const out: ResponsesEvent[] = [];
    if (this.ended) return out;
    this.open(out);
    this.ended = true;
    const message = error.message ?? 'The response failed.';
    const code = error.code ?? 'server_error';
    out.push(this.ev('error', { code, message, param: error.param ?? null }));
    const response: Obj = {
      ...this.shell(),
      status: 'failed',
      error: { code, message },
      output: this.items.map((s) => this.itemOf(s, 'incomplete')),
      usage: toResponseUsage(this.usage),
    };
    out.push(this.ev('response.failed', { response }));
    return out;
  }
}

/** One event as SSE: `event: <type>` and its JSON. */
export function formatResponsesEvent(e: ResponsesEvent): string {
  return `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}
