/**
 * Prompt token counting with bounded work. js-tiktoken's BPE is quadratic in the length of a
 * piece it has no merge for: one 8k-letter "word" took 4.7 s, 64 CJK characters 10 ms, all on
 * the event loop. So only ordinary text is counted exactly (short printable-ASCII words, in
 * batches, up to a budget), the rest is estimated from its characters, and the count yields to
 * the event loop between batches so other requests (and /healthz) are served meanwhile.
 */
import type { Tiktoken } from 'js-tiktoken/lite';

/** Longest whitespace-free ASCII run encoded exactly; longer ones are estimated. */
const MAX_EXACT_WORD = 24;
/** Characters of ordinary text encoded per batch before yielding (~5 ms of CPU). */
const BATCH_CHARS = 8 * 1024;
/** Characters encoded exactly per request; beyond it everything is estimated. */
const EXACT_BUDGET_CHARS = 64 * 1024;

const WORDS = /\s+|\S+/g;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/** A cheap estimate: ~4 ASCII characters a token, one token per other code point. */
export function estimateTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) ascii++;
    // A surrogate pair is one code point: count its high half only.
    else if (c < 0xdc00 || c > 0xdfff) other++;
  }
  return Math.ceil(ascii / 4) + other;
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Counts tokens of many texts with one work budget; see the module comment. */
export class TokenCounter {
  private exactLeft = EXACT_BUDGET_CHARS;
  private batch = '';
  private total = 0;

  constructor(private readonly enc: Tiktoken) {}

  /** Adds one text (a message's content, tool arguments…). */
  async add(text: string): Promise<void> {
    if (this.exactLeft <= 0) {
      this.total += estimateTokens(text);
      return;
    }
    WORDS.lastIndex = 0;
    for (let m = WORDS.exec(text); m; m = WORDS.exec(text)) {
      const piece = m[0];
      // Runs of whitespace are pieces of their own for the BPE too: long ones are as costly.
      const easy = piece.length <= MAX_EXACT_WORD && (PRINTABLE_ASCII.test(piece) || piece.trim() === '');
      if (easy && this.exactLeft > 0) {
        this.batch += piece;
        this.exactLeft -= piece.length;
        if (this.batch.length >= BATCH_CHARS) await this.flush(true);
      } else {
        this.total += estimateTokens(piece);
        // Keeps the neighbours of an estimated piece apart, as they were in the text.
        if (this.exactLeft > 0 && !this.batch.endsWith(' ')) this.batch += ' ';
      }
    }
    // Each text is its own token sequence: BPE never merges across messages.
    await this.flush(false);
  }

  private async flush(yieldAfter: boolean): Promise<void> {
    // Special-token text ("<|endoftext|>") in a prompt is ordinary text to count, not an error.
    if (this.batch.trim() !== '') this.total += this.enc.encode(this.batch, [], []).length;
    this.batch = '';
    if (yieldAfter) await yieldToLoop();
  }

  /** The count so far. */
  get count(): number {
    return this.total;
  }
}
