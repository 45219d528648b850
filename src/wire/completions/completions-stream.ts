/**
 * Router → app: the chat path's streams (one per prompt, in turn) as one legacy Completions
 * stream: `text_completion` chunks (`choices[].text`, the choice index offset by prompt), a final
 * usage chunk with `choices: []` when the app asked for it, then `[DONE]`. An in-stream error is
 * passed on as the chat path wrote it (`{"error": …}`), then `[DONE]`.
 */
import { z } from 'zod';
import type { Obj } from '../wire-common.js';
import { finishReasonOf, usageSchema, UsageSum } from './completion-object.js';
import type { CompletionsRequest } from './parse-completions-request.js';

const chunkSchema = z.looseObject({
  model: z.string().optional(),
  system_fingerprint: z.string().nullish(),
  choices: z
    .array(
      z.looseObject({
        index: z.number().optional(),
        delta: z.looseObject({ content: z.string().nullish(), refusal: z.string().nullish() }).nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .optional(),
  usage: usageSchema.nullish(),
});

const errorSchema = z.looseObject({ error: z.looseObject({}) });

export const DONE = '[DONE]';

export class CompletionsStreamEncoder {
  private model: string;
  private fingerprint: string | null | undefined;
  private readonly echoed = new Set<number>();
  private readonly usage = new UsageSum();
  private ended = false;

  constructor(
    private readonly req: CompletionsRequest,
    private readonly id: string,
    private readonly created: number,
  ) {
    this.model = req.model;
  }

  /** The stream ended (`[DONE]` sent): nothing more goes out. */
  get done(): boolean {
    return this.ended;
  }

  private frame(choices: Obj[], extra?: Obj): Obj {
    const out: Obj = { id: this.id, object: 'text_completion', created: this.created, model: this.model, choices };
    if (this.fingerprint != null) out.system_fingerprint = this.fingerprint;
    return extra ? { ...out, ...extra } : out;
  }

  /**
   * The payloads (JSON text or `[DONE]`) for one payload of prompt `p`'s chat stream. `ended`:
   * that prompt's stream is over (`[DONE]`); an error ends the whole stream.
   */
  push(p: number, data: unknown): { out: string[]; ended: boolean } {
    if (this.ended) return { out: [], ended: true };
    if (data === DONE) return { out: [], ended: true };
    if (errorSchema.safeParse(data).success) return { out: this.fail(data), ended: true };
    const parsed = chunkSchema.safeParse(data);
    if (!parsed.success) return { out: this.fail({ error: { message: 'The router produced an unreadable stream event.', type: 'server_error', param: null, code: 'internal_error' } }), ended: true };
    const chunk = parsed.data;
    if (chunk.model) this.model = chunk.model;
    if (chunk.system_fingerprint != null) this.fingerprint = chunk.system_fingerprint;
    if (chunk.usage) this.usage.add(chunk.usage);
    const choices: Obj[] = [];
    for (const c of chunk.choices ?? []) {
      const index = p * this.req.n + (c.index ?? 0);
      let text = `${c.delta?.content ?? ''}${c.delta?.refusal ?? ''}`;
      if (this.req.echo && !this.echoed.has(index)) {
        this.echoed.add(index);
        text = this.req.prompts[p] + text;
      }
      const finish = finishReasonOf(c.finish_reason);
      // The chat stream's opening role delta carries no text: nothing for a legacy client.
      if (!text && finish === null) continue;
      choices.push({ text, index, logprobs: null, finish_reason: finish });
    }
    return { out: choices.length ? [JSON.stringify(this.frame(choices))] : [], ended: false };
  }

  /** After the last prompt: the usage chunk (when asked), then `[DONE]`. */
  finish(): string[] {
    if (this.ended) return [];
    this.ended = true;
    const u = this.usage.toWire();
    return [...(this.req.includeUsage && u ? [JSON.stringify(this.frame([], { usage: u }))] : []), DONE];
  }

  /** An error: passed on as the chat path wrote it (OpenAI's shape), then `[DONE]`. */
  fail(body: unknown): string[] {
    if (this.ended) return [];
    this.ended = true;
    return [JSON.stringify(body), DONE];
  }
}
