/**
 * Router → app: chat completions (one per prompt) as one legacy `text_completion`, and the
 * pieces the stream encoder shares (ids, finish reasons, usage sums). Chat answers are read with
 * a deliberately loose schema: only what is needed.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Obj } from '../wire-common.js';
import type { CompletionsRequest } from './parse-completions-request.js';

export const newCompletionId = (random: (n: number) => Buffer = randomBytes) => `cmpl-${random(18).toString('base64url')}`;

export const usageSchema = z.looseObject({
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  total_tokens: z.number().optional(),
  /** The router's own extension on streamed usage (null: price unknown). */
  cost_usd: z.number().nullish(),
});
export type CompletionUsage = z.output<typeof usageSchema>;

export const chatCompletionSchema = z.looseObject({
  object: z.literal('chat.completion'),
  model: z.string(),
  system_fingerprint: z.string().nullish(),
  choices: z.array(
    z.looseObject({
      index: z.number(),
      message: z.looseObject({ content: z.string().nullish(), refusal: z.string().nullish() }),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: usageSchema.nullish(),
});
export type ChatCompletion = z.output<typeof chatCompletionSchema>;

/** Legacy finish reasons are `stop`, `length` and `content_filter`; anything else ended normally. */
export function finishReasonOf(reason: string | null | undefined): string | null {
  if (reason == null) return null;
  return reason === 'length' || reason === 'content_filter' ? reason : 'stop';
}

/** Sums usage over prompts (`cost_usd`: null when any part's price is unknown, absent when none reported one). */
export class UsageSum {
  private prompt = 0;
  private completion = 0;
  private cost: number | null | undefined;
  private seen = false;

  add(u: CompletionUsage | null | undefined): void {
    if (!u) return;
    this.seen = true;
    this.prompt += u.prompt_tokens;
    this.completion += u.completion_tokens;
    if (u.cost_usd === undefined) return;
    this.cost = u.cost_usd === null || this.cost === null ? null : (this.cost ?? 0) + u.cost_usd;
  }

  /** The wire usage; undefined when no part reported any. */
  toWire(): Obj | undefined {
    if (!this.seen) return undefined;
    const out: Obj = { prompt_tokens: this.prompt, completion_tokens: this.completion, total_tokens: this.prompt + this.completion };
    if (this.cost !== undefined) out.cost_usd = this.cost === null ? null : Number(this.cost.toFixed(9));
    return out;
  }
}

/** One text_completion for the answers to `req.prompts` (in prompt order). */
export function toTextCompletion(req: CompletionsRequest, answers: readonly ChatCompletion[], id: string, created: number): Obj {
  const usage = new UsageSum();
  const choices: Obj[] = [];
  answers.forEach((a, p) => {
    usage.add(a.usage);
    for (const c of [...a.choices].sort((x, y) => x.index - y.index)) {
      const text = `${c.message.content ?? ''}${c.message.refusal ?? ''}`;
      choices.push({ text: req.echo ? req.prompts[p] + text : text, index: p * req.n + c.index, logprobs: null, finish_reason: finishReasonOf(c.finish_reason) });
    }
  });
  const first = answers[0];
  const out: Obj = { id, object: 'text_completion', created, model: first?.model ?? req.model, choices };
  if (first?.system_fingerprint != null) out.system_fingerprint = first.system_fingerprint;
  const u = usage.toWire();
  if (u) out.usage = u;
  return out;
}
