import { isPlaceholderPrefix } from './placeholder.js';

/** Restores placeholders in a streamed answer, chunk by chunk. */
export interface StreamRestorer {
  /** Takes the next chunk; returns what can be released now (maybe ''). */
  push(text: string): string;
  /** Releases whatever was held back. */
  end(): string;
}

/**
 * Holds back only a tail that could still become a placeholder (`<EMA` at a chunk's end, at
 * most 15 chars) and restores the rest. Cutting just before that `<` is safe: a placeholder
 * holds no `<` after its first char, so no placeholder spans the cut, and the released parts
 * restore exactly as the whole text would.
 */
export function createStreamRestorer(restore: (text: string) => string): StreamRestorer {
  let held = '';
  return {
    push(text: string): string {
      if (!text) return '';
      const buf = held + text;
      const lt = buf.lastIndexOf('<');
      if (lt >= 0 && isPlaceholderPrefix(buf.slice(lt))) {
        held = buf.slice(lt);
        return lt === 0 ? '' : restore(buf.slice(0, lt));
      }
      held = '';
      return restore(buf);
    },
    end(): string {
      const rest = held;
      held = '';
      return rest ? restore(rest) : '';
    },
  };
}
