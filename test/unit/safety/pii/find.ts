import { detectPii, type DetectOptions } from '../../../../src/safety/pii/detect.js';
import { PII_KINDS, type PiiKind } from '../../../../src/safety/pii/kinds.js';

/** The values found in text, as `kind:value`, with only `kinds` on (all when absent). */
export function found(text: string, kinds: readonly PiiKind[] = PII_KINDS, opts?: DetectOptions): string[] {
  return detectPii(text, new Set(kinds), opts).map((f) => `${f.kind}:${text.slice(f.start, f.end)}`);
}

/** The values of one kind found in text, with only that kind on. */
export function values(text: string, kind: PiiKind, opts?: DetectOptions): string[] {
  return detectPii(text, new Set([kind]), opts).map((f) => text.slice(f.start, f.end));
}
