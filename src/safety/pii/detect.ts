import { DETECTORS } from './detectors.js';
import type { EntropyOptions } from './entropy.js';
import type { PiiKind } from './kinds.js';

/** One detected value: its kind and where it is, UTF-16 offsets, end exclusive. */
export interface PiiFinding {
  kind: PiiKind;
  start: number;
  end: number;
}

/** Tuning of the detectors; only the generic high-entropy detector has any today. */
export type DetectOptions = EntropyOptions;

/**
 * Which finding wins where two overlap, first wins. Whole structures before what can sit
 * inside them (a private key block before the base64 in it), specific secrets before
 * checksummed numbers, checksummed numbers before patterns, the generic entropy guess last.
 * `cn_id` comes before `card`: an 18-digit string passing both the date and the mod 11-2
 * check is an ID far more likely than it is a card that happens to pass Luhn too.
 */
export const PII_PRIORITY: readonly PiiKind[] = [
  'private_key',
  'jwt',
  'openai_key',
  'github_token',
  'aws_access_key',
  'cn_id',
  'card',
  'iban',
  'email',
  'phone',
  'ipv6',
  'ipv4',
  'high_entropy',
];

/**
 * Finds the values of the given kinds in text: sorted by start and never overlapping. Where
 * findings of different kinds overlap, the one earlier in `PII_PRIORITY` is kept (and among
 * equals the longer, then the earlier); the loser is dropped whole, never trimmed.
 */
export function detectPii(text: string, kinds: ReadonlySet<PiiKind>, opts: DetectOptions = {}): PiiFinding[] {
  const candidates: PiiFinding[] = [];
  for (const kind of PII_PRIORITY) {
    if (!kinds.has(kind)) continue;
    for (const s of DETECTORS[kind](text, opts)) candidates.push({ kind, start: s.start, end: s.end });
  }
  return resolveOverlaps(candidates, text.length);
}

const RANK: ReadonlyMap<PiiKind, number> = new Map(PII_PRIORITY.map((k, i) => [k, i]));

/**
 * Greedy by priority over an occupancy map of the text: checking and marking a candidate
 * costs its length, and each detector's spans are disjoint, so the whole is linear in the
 * text size times the number of kinds, whatever the number of findings.
 */
export function resolveOverlaps(candidates: readonly PiiFinding[], textLength: number): PiiFinding[] {
  if (candidates.length < 2) return [...candidates];
  const order = [...candidates].sort(
    (a, b) => RANK.get(a.kind)! - RANK.get(b.kind)! || b.end - b.start - (a.end - a.start) || a.start - b.start,
  );
  const taken = new Uint8Array(textLength);
  const kept: PiiFinding[] = [];
  for (const f of order) {
    if (f.end <= f.start) continue;
    let free = true;
    for (let i = f.start; i < f.end; i++) {
      if (taken[i]) {
        free = false;
        break;
      }
    }
    if (!free) continue;
    taken.fill(1, f.start, f.end);
    kept.push(f);
  }
  return kept.sort((a, b) => a.start - b.start);
}
