/**
 * The output side of content safety, non-streamed and streamed: lexicon rules, PII/secret
 * detectors on the answer, and the restoration of reversibly redacted values. A stream is a
 * transform of `AsyncIterable<ChatChunk>`: each text channel (a choice's content, its refusal,
 * each tool call's arguments) runs through stages that hold back only what a match in
 * progress needs and release the rest at once. A `block` ends the choice with
 * `finish_reason: "content_filter"` (the rest of a stream is not read).
 */
import type { ChatChunk, ChatResponse, ToolCallDelta } from '../core/chat-response.js';
import type { DecisionTally } from './decisions.js';
import { applyLexicon } from './input-filter.js';
import type { Lexicon } from './lexicon/lexicon.js';
import { maskSpans, type Span } from './mask.js';
import { detectPii, type DetectOptions, type PiiFinding } from './pii/detect.js';
import { redactedLabel, type PlaceholderVault } from './pii/vault.js';
import type { CompiledPolicy } from './policy.js';
import { ContentPolicyViolation } from './safety-errors.js';

export interface OutputContext {
  policy: CompiledPolicy;
  lexicon: Lexicon;
  vault?: PlaceholderVault;
  detect: DetectOptions;
  tally: DecisionTally;
}

/** Whether the answer needs any filtering at all. */
export function outputActive(ctx: OutputContext): boolean {
  return ctx.policy.lexiconOutput.size > 0 || ctx.policy.outputKinds.size > 0 || (ctx.vault?.size ?? 0) > 0;
}

/** Longest text a stage holds back: past it the held text is released (bounded memory and delay). */
export const MAX_HOLD_CHARS = 4_096;

/** One step of a text channel: `push` returns what may go out now; `end` releases the rest. Both may throw ContentPolicyViolation. */
interface Stage {
  push(text: string): string;
  end(): string;
}

/** The last code point of `s` (left context for word boundaries). */
const lastCodePoint = (s: string): string => {
  if (!s) return '';
  const c = s.charCodeAt(s.length - 1);
  return c >= 0xdc00 && c <= 0xdfff && s.length > 1 ? s.slice(-2) : s.slice(-1);
};

/** Lexicon rules over a stream: holds back from where a term still in progress could start. */
class LexiconStage implements Stage {
  private held = '';
  /** The last released character: the left context a word boundary needs. */
  private before = '';

  constructor(private readonly ctx: OutputContext) {}

  push(text: string): string {
    return this.run(this.held + text, false);
  }

  end(): string {
    return this.run(this.held, true);
  }

  private run(buf: string, final: boolean): string {
    if (!buf) return '';
    const { lexicon, policy, tally } = this.ctx;
    const text = this.before + buf;
    const off = this.before.length;
    const { hits, tailStart } = lexicon.scan(text, { final });
    let cut = final ? text.length : Math.max(off, tailStart);
    // A held text this long is released: an upstream cannot make the router buffer without bound.
    if (!final && text.length - cut > MAX_HOLD_CHARS) cut = text.length;
    // A complete match that crosses the cut is held back whole.
    for (const h of hits) if (h.start >= off && h.start < cut && h.end > cut && policy.lexiconOutput.has(h.category)) cut = h.start;
    const spans: Span[] = [];
    let blocked: string | undefined;
    for (const h of hits) {
      if (h.start < off || h.end > cut) continue;
      const action = policy.lexiconOutput.get(h.category);
      if (!action) continue;
      tally.add('output', 'lexicon', h.category, action);
      if (action === 'block') blocked ??= h.category;
      else if (action === 'mask') spans.push(h);
    }
    if (blocked) throw new ContentPolicyViolation('output', 'lexicon', blocked);
    const released = text.slice(0, cut);
    this.held = text.slice(cut);
    if (cut > off) this.before = lastCodePoint(released);
    return maskSpans(released, spans, policy.mask).slice(off);
  }
}

/**
 * Where a streamed text can be cut without splitting a value a detector may still find: after
 * the last whitespace, and before a trailing run of digits and phone punctuation (a phone
 * number has spaces), and before an unterminated private key block.
 */
function piiCut(buf: string): number {
  const begin = buf.lastIndexOf('-----BEGIN');
  if (begin >= 0 && buf.indexOf('PRIVATE KEY-----', begin + 10) >= 0 && buf.indexOf('-----END', begin + 10) < 0) return begin;
  let cut = buf.length;
  while (cut > 0 && !/\s/.test(buf[cut - 1]!)) cut--;
  // "+44 20 7946 0958": the digits before the last space may belong to the same number.
  const m = /[+(]?[\d][\d\s().-]{0,24}$/.exec(buf.slice(Math.max(0, cut - 26), cut));
  if (m) cut = Math.max(0, cut - m[0].length);
  return cut;
}

/** PII and secret rules over an answer: a value the prompt did not carry that the model produced. */
class PiiStage implements Stage {
  private held = '';
  constructor(private readonly ctx: OutputContext) {}

  push(text: string): string {
    return this.run(this.held + text, false);
  }

  end(): string {
    return this.run(this.held, true);
  }

  private run(buf: string, final: boolean): string {
    if (!buf) return '';
    let cut = final ? buf.length : piiCut(buf);
    if (!final && buf.length - cut > MAX_HOLD_CHARS) cut = buf.length;
    const findings = detectPii(buf, this.ctx.policy.outputKinds, this.ctx.detect);
    for (const f of findings) if (f.start < cut && f.end > cut) cut = f.start;
    const { out, blocked } = applyPiiOutput(buf.slice(0, cut), findings.filter((f) => f.end <= cut), this.ctx);
    if (blocked) throw new ContentPolicyViolation('output', 'pii', blocked);
    this.held = buf.slice(cut);
    return out;
  }
}

function applyPiiOutput(text: string, findings: readonly PiiFinding[], ctx: OutputContext): { out: string; blocked?: string } {
  let blocked: string | undefined;
  let out = '';
  let at = 0;
  for (const f of findings) {
    const action = ctx.policy.piiOutput.get(f.kind);
    if (!action) continue;
    ctx.tally.add('output', 'pii', f.kind, action);
    if (action === 'block') blocked ??= f.kind;
    else if (action === 'redact') {
      out += text.slice(at, f.start) + redactedLabel(f.kind);
      at = f.end;
    }
  }
  return { out: out + text.slice(at), ...(blocked ? { blocked } : {}) };
}

/** Stages in order: the lexicon, then detectors, then the restoration of the app's own values. */
function channel(ctx: OutputContext): Stage {
  const stages: Stage[] = [];
  if (ctx.policy.lexiconOutput.size) stages.push(new LexiconStage(ctx));
  if (ctx.policy.outputKinds.size) stages.push(new PiiStage(ctx));
  if (ctx.vault?.size) stages.push(ctx.vault.streamRestorer());
  return {
    push(text) {
      let t = text;
      for (const s of stages) t = s.push(t);
      return t;
    },
    end() {
      let t = '';
      for (const s of stages) t = s.push(t) + s.end();
      return t;
    },
  };
}

/** The whole text of a non-streamed answer through the same rules (final: nothing pending). */
function filterText(text: string, ctx: OutputContext): string {
  let t = applyLexicon(text, ctx.lexicon, ctx.policy.lexiconOutput, ctx.policy.mask, ctx.tally, 'output');
  if (ctx.policy.outputKinds.size && t) {
    const { out, blocked } = applyPiiOutput(t, detectPii(t, ctx.policy.outputKinds, ctx.detect), ctx);
    if (blocked) throw new ContentPolicyViolation('output', 'pii', blocked);
    t = out;
  }
  return ctx.vault?.size ? ctx.vault.restore(t) : t;
}

/** Filters a non-streamed answer in place. Returns the choices that were blocked (replaced by the refusal). */
export function filterResponse(res: ChatResponse, ctx: OutputContext): number[] {
  const blocked: number[] = [];
  for (const c of res.choices) {
    try {
      const m = c.message;
      const content = m.content == null ? m.content : filterText(m.content, ctx);
      const refusal = m.refusal == null ? m.refusal : filterText(m.refusal, ctx);
      const toolCalls = m.toolCalls?.map((t) => ({ ...t, function: { ...t.function, arguments: filterText(t.function.arguments, ctx) } }));
      m.content = content;
      if (m.refusal != null) m.refusal = refusal;
      if (toolCalls) m.toolCalls = toolCalls;
    } catch (err) {
      if (!(err instanceof ContentPolicyViolation)) throw err;
      c.message = { content: ctx.policy.refusal, refusal: null };
      c.finishReason = 'content_filter';
      c.logprobs = undefined;
      blocked.push(c.index);
    }
  }
  return blocked;
}

/**
 * Filters a stream. `choices`: how many choices the request asked for (n); once each has
 * finished or been blocked the transform stops reading (the upstream is then closed).
 */
export async function* filterStream(chunks: AsyncIterable<ChatChunk>, ctx: OutputContext, choices: number): AsyncIterable<ChatChunk> {
  const channels = new Map<string, Stage>();
  const started = new Set<number>();
  const done = new Set<number>();
  const stage = (key: string) => {
    let s = channels.get(key);
    if (!s) channels.set(key, (s = channel(ctx)));
    return s;
  };
  /** What the channels of a choice still hold, as one delta (or none). */
  const flush = (index: number): ChatChunk | undefined => {
    let text: string | undefined;
    let refusal: string | undefined;
    const toolCalls: ToolCallDelta[] = [];
    for (const [key, s] of channels) {
      const [i, kind] = key.split(':') as [string, string];
      if (Number(i) !== index) continue;
      const rest = s.end();
      channels.delete(key);
      if (!rest) continue;
      if (kind === 't') text = rest;
      else if (kind === 'r') refusal = rest;
      else toolCalls.push({ index: Number(kind.slice(1)), function: { arguments: rest } });
    }
    if (text === undefined && refusal === undefined && !toolCalls.length) return undefined;
    return { type: 'delta', index, ...(text !== undefined ? { text } : {}), ...(refusal !== undefined ? { refusal } : {}), ...(toolCalls.length ? { toolCalls } : {}) };
  };
  const blockedFinish = (index: number): ChatChunk => {
    done.add(index);
    for (const key of [...channels.keys()]) if (key.startsWith(`${index}:`)) channels.delete(key);
    return { type: 'finish', index, finish: 'content_filter' };
  };
  for await (const c of chunks) {
    if (c.type === 'usage') {
      yield c;
      continue;
    }
    if (done.has(c.index)) continue;
    if (c.type === 'finish') {
      let rest: ChatChunk | undefined;
      try {
        rest = flush(c.index);
      } catch (err) {
        if (!(err instanceof ContentPolicyViolation)) throw err;
        yield blockedFinish(c.index);
        if (done.size >= choices) return;
        continue;
      }
      if (rest) yield rest;
      done.add(c.index);
      yield c;
      continue;
    }
    let out: ChatChunk;
    try {
      const { text, refusal, toolCalls } = c;
      out = {
        ...c,
        ...(text ? { text: stage(`${c.index}:t`).push(text) } : {}),
        ...(refusal ? { refusal: stage(`${c.index}:r`).push(refusal) } : {}),
        ...(toolCalls
          ? {
              toolCalls: toolCalls.flatMap((t) => {
                const args = t.function?.arguments;
                if (!args) return [t];
                const released = stage(`${c.index}:c${t.index}`).push(args);
                // A delta that only held back arguments, with no id or name, says nothing yet.
                if (!released && t.id === undefined && t.function?.name === undefined) return [];
                return [{ ...t, function: { ...t.function, arguments: released } }];
              }),
            }
          : {}),
      };
    } catch (err) {
      if (!(err instanceof ContentPolicyViolation)) throw err;
      yield blockedFinish(c.index);
      if (done.size >= choices) return;
      continue;
    }
    const empty = !out.text && !out.refusal && !out.toolCalls?.length && out.logprobs === undefined;
    if (empty && started.has(c.index)) continue;
    if (out.toolCalls && !out.toolCalls.length) delete out.toolCalls;
    started.add(c.index);
    yield out;
  }
  // The upstream ended without a finish for some choice: release what is held (the edge reports the missing finish).
  for (const index of new Set([...channels.keys()].map((k) => Number(k.split(':')[0])))) {
    try {
      const rest = flush(index);
      if (rest) yield rest;
    } catch (err) {
      if (!(err instanceof ContentPolicyViolation)) throw err;
      yield blockedFinish(index);
    }
  }
}
