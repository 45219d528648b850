/**
 * A cached whole answer replayed as a stream, for a streamed request that hits the cache: the
 * chunks an upstream would have sent, in the order `WireChunkEncoder` frames well (it adds the
 * role to each choice's first delta and sends each finish once).
 *
 * Per choice, one after the other: its text in pieces of 16–32 characters cut after a space when
 * one falls in that range (never inside a surrogate pair), then its refusal the same way, then each
 * tool call (a first delta with id, type and name and empty arguments, then the arguments in
 * pieces), then its finish chunk (with its content-filter results). The choice's logprobs, if any,
 * ride whole on its first delta. Last, the usage chunk when `includeUsage` and the answer has
 * usage; no numbers are made up for an answer without. Assistant-message extras (annotations,
 * audio) have no place in a stream chunk and are not replayed.
 */
import type { ChatChoice, ChatChunk, ChatResponse, ToolCallDelta } from '../core/chat-response.js';

export interface ReplayOptions {
  /**
   * Emit the trailing usage chunk. The encoder sends it to the app only when the app asked, so
   * pass true where the stream's reader meters usage, or `chat.includeUsage` where it does not.
   */
  includeUsage: boolean;
  /** Longest text piece in UTF-16 units (default 32); pieces are cut after a space from half of it. */
  maxChunkChars?: number;
}

export async function* replayStream(res: ChatResponse, opts: ReplayOptions): AsyncIterable<ChatChunk> {
  const max = Math.max(2, Math.floor(opts.maxChunkChars ?? 32));
  const min = Math.max(1, Math.floor(max / 2));
  for (const choice of res.choices) yield* replayChoice(choice, min, max);
  if (opts.includeUsage && res.usage) yield { type: 'usage', usage: res.usage };
}

function* replayChoice(choice: ChatChoice, min: number, max: number): Generator<ChatChunk> {
  const index = choice.index;
  let logprobs = choice.logprobs;
  // The choice's logprobs go on its first delta, whichever kind it is.
  const delta = (fields: { text?: string; refusal?: string; toolCalls?: ToolCallDelta[] }): ChatChunk => {
    const chunk: ChatChunk = { type: 'delta', index, ...fields };
    if (logprobs != null) chunk.logprobs = logprobs;
    logprobs = undefined;
    return chunk;
  };
  const { content, refusal, toolCalls } = choice.message;
  if (content) for (const text of textPieces(content, min, max)) yield delta({ text });
  if (refusal) for (const piece of textPieces(refusal, min, max)) yield delta({ refusal: piece });
  for (const [i, call] of (toolCalls ?? []).entries()) {
    yield delta({ toolCalls: [{ index: i, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] });
    for (const args of textPieces(call.function.arguments, min, max)) yield delta({ toolCalls: [{ index: i, function: { arguments: args } }] });
  }
  yield { type: 'finish', index, finish: choice.finishReason, ...(choice.contentFilterResults ? { contentFilterResults: choice.contentFilterResults } : {}) };
}

/** `s` in pieces of at most `max` UTF-16 units, each cut after the first whitespace at or past `min` when there is one. */
export function* textPieces(s: string, min: number, max: number): Generator<string> {
  let start = 0;
  while (start < s.length) {
    if (s.length - start <= max) {
      yield s.slice(start);
      return;
    }
    let end = -1;
    for (let i = start + min - 1; i < start + max; i++) {
      if (isSpace(s.charCodeAt(i))) {
        end = i + 1;
        break;
      }
    }
    if (end < 0) {
      end = start + max;
      if (isHighSurrogate(s.charCodeAt(end - 1))) end--; // never split a surrogate pair
    }
    yield s.slice(start, end);
    start = end;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
