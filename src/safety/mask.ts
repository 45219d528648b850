/** A span of a string, UTF-16 offsets, end exclusive. */
export interface Span {
  start: number;
  end: number;
}

/**
 * Replaces every character covered by a span with `mask` (once per code point, so a CJK
 * character or an emoji becomes one mask, not two). Spans may overlap and come in any order.
 */
export function maskSpans(text: string, spans: readonly Span[], mask: string): string {
  if (!spans.length) return text;
  const sorted = [...spans].filter((s) => s.end > s.start).sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let at = 0;
  for (const s of sorted) {
    const start = Math.max(s.start, at);
    if (start >= s.end) continue;
    out += text.slice(at, start);
    for (let i = start; i < s.end; i++) {
      const c = text.charCodeAt(i);
      // The low half of a surrogate pair was masked with its high half.
      if (c >= 0xdc00 && c <= 0xdfff && i > start) continue;
      out += mask;
    }
    at = s.end;
  }
  return out + text.slice(at);
}
