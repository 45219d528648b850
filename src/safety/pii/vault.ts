import type { PiiFinding } from './detect.js';
import type { PiiKind } from './kinds.js';
import {
  anonymousPlaceholder,
  formatPlaceholder,
  MAX_PLACEHOLDER_NUMBER,
  PLACEHOLDER_LABELS,
  PLACEHOLDER_RE,
} from './placeholder.js';
import { createStreamRestorer, type StreamRestorer } from './stream-restorer.js';

export interface VaultOptions {
  /** Most values kept for restoring (default 10,000); past it values get `<EMAIL>`-style placeholders that are not restored. */
  maxValues?: number;
}

export const DEFAULT_MAX_VAULT_VALUES = 10_000;

/** The non-reversible placeholder of a kind, `<EMAIL>`, `<SECRET>`: for redaction nothing restores. */
export function redactedLabel(kind: PiiKind): string {
  return anonymousPlaceholder(PLACEHOLDER_LABELS[kind]);
}

/**
 * Reversible redaction for one request: values out, `<LABEL_n>` placeholders in, and back.
 *
 * Collisions with the app's own text: a placeholder the vault issues must never equal one
 * the prompt already holds, or restore() would turn the app's literal `<EMAIL_1>` into
 * someone's address. `reserveExisting(text)` records the placeholder-like strings in a text
 * and numbering skips them. `redact()` reserves its own text first; a request of several
 * parts (messages, tool results) must pass every part to `reserveExisting` before redacting
 * any. A late reservation of a placeholder already issued revokes it: that placeholder is
 * then no longer restored (the app sees the placeholder, never a wrong value) and its value
 * gets a new one next time.
 */
export class PlaceholderVault {
  readonly #max: number;
  /** label + NUL + value → placeholder */
  readonly #byValue = new Map<string, string>();
  /** placeholder → value */
  readonly #byPlaceholder = new Map<string, string>();
  /** label → last number issued */
  readonly #counters = new Map<string, number>();
  /** label → numbers present in the app's text */
  readonly #reserved = new Map<string, Set<number>>();

  constructor(opts: VaultOptions = {}) {
    this.#max = Math.max(0, Math.floor(opts.maxValues ?? DEFAULT_MAX_VAULT_VALUES));
  }

  /** Number of values that can be restored. */
  get size(): number {
    return this.#byPlaceholder.size;
  }

  /** Records the placeholders present in `text` so that none is ever issued; returns how many it saw. */
  reserveExisting(text: string): number {
    if (!text.includes('<')) return 0;
    let seen = 0;
    for (const m of text.matchAll(PLACEHOLDER_RE)) {
      seen++;
      const label = m[1]!;
      let set = this.#reserved.get(label);
      if (!set) this.#reserved.set(label, (set = new Set()));
      set.add(Number(m[2]));
      const value = this.#byPlaceholder.get(m[0]);
      if (value !== undefined) {
        this.#byPlaceholder.delete(m[0]);
        this.#byValue.delete(`${label}\0${value}`);
      }
    }
    return seen;
  }

  /**
   * Stable placeholder for a value: the same value under the same label always gets the same
   * one (`<EMAIL_1>`); a full vault answers `<EMAIL>`, which restore() leaves alone.
   */
  placeholderFor(kind: PiiKind, value: string): string {
    const label = PLACEHOLDER_LABELS[kind];
    const key = `${label}\0${value}`;
    const known = this.#byValue.get(key);
    if (known !== undefined) return known;
    if (this.#byPlaceholder.size >= this.#max) return redactedLabel(kind);
    const reserved = this.#reserved.get(label);
    let n = this.#counters.get(label) ?? 0;
    do n++;
    while (reserved?.has(n));
    if (n > MAX_PLACEHOLDER_NUMBER) return redactedLabel(kind);
    this.#counters.set(label, n);
    const placeholder = formatPlaceholder(label, n);
    this.#byValue.set(key, placeholder);
    this.#byPlaceholder.set(placeholder, value);
    return placeholder;
  }

  /**
   * Replaces findings (from detectPii on this same text: sorted, disjoint) with placeholders.
   * A finding that overlaps the one before it or falls outside the text is skipped.
   */
  redact(text: string, findings: readonly PiiFinding[]): string {
    if (findings.length === 0) return text;
    this.reserveExisting(text);
    let out = '';
    let at = 0;
    for (const f of findings) {
      if (f.start < at || f.end > text.length || f.end <= f.start) continue;
      out += text.slice(at, f.start) + this.placeholderFor(f.kind, text.slice(f.start, f.end));
      at = f.end;
    }
    return out + text.slice(at);
  }

  /** Puts the original values back for every placeholder this vault issued; anything else stays as is. */
  restore(text: string): string {
    if (this.#byPlaceholder.size === 0 || !text.includes('<')) return text;
    return text.replace(PLACEHOLDER_RE, (p) => this.#byPlaceholder.get(p) ?? p);
  }

  /** A restorer for a streamed answer; see createStreamRestorer. */
  streamRestorer(): StreamRestorer {
    return createStreamRestorer((t) => this.restore(t));
  }
}
