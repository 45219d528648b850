/**
 * The input side of content safety: lexicon rules and PII/secret detectors over every text a
 * request carries (messages, tool results, earlier tool calls, tool descriptions). `block` throws ContentPolicyViolation (after counting it); `mask` and
 * `redact` rewrite the messages in place before the request leaves; `flag` only counts.
 * Findings of the route's privacy kinds constrain the request to local/trusted targets.
 */
import type { ChatRequest } from '../core/chat-request.js';
import type { DecisionTally } from './decisions.js';
import type { Lexicon } from './lexicon/lexicon.js';
import { maskSpans, type Span } from './mask.js';
import { detectPii, type DetectOptions, type PiiFinding } from './pii/detect.js';
import type { PiiKind } from './pii/kinds.js';
import { PlaceholderVault, redactedLabel } from './pii/vault.js';
import type { CompiledPolicy } from './policy.js';
import { ContentPolicyViolation } from './safety-errors.js';
import { messageTexts, rewriteMessageTexts } from './text-fields.js';

export interface InputOutcome {
  /** Values redacted reversibly, to be put back into the answer (absent: none). */
  vault?: PlaceholderVault;
  /** Privacy kinds found: the request may only go to `allow` targets. */
  privacy?: { kinds: PiiKind[]; allow: string[] };
}

/** Masks lexicon hits of `rules` in `text`; counts them; throws on a block. */
export function applyLexicon(
  text: string,
  lexicon: Lexicon,
  rules: ReadonlyMap<string, string>,
  mask: string,
  tally: DecisionTally,
  direction: 'input' | 'output',
): string {
  if (!rules.size || !text) return text;
  const { hits, truncated } = lexicon.scan(text);
  if (!hits.length) return text;
  // A text that is little but terms (more matches than a scan collects) is refused whole.
  if (truncated) {
    const category = hits.find((h) => rules.has(h.category))?.category;
    if (category) {
      tally.add(direction, 'lexicon', category, 'block');
      throw new ContentPolicyViolation(direction, 'lexicon', category);
    }
  }
  const spans: Span[] = [];
  let blocked: string | undefined;
  for (const h of hits) {
    const action = rules.get(h.category);
    if (!action) continue;
    tally.add(direction, 'lexicon', h.category, action);
    if (action === 'block') blocked ??= h.category;
    else if (action === 'mask') spans.push(h);
  }
  if (blocked) throw new ContentPolicyViolation(direction, 'lexicon', blocked);
  return maskSpans(text, spans, mask);
}

/** Runs the input rules of `policy` over `chat` (rewritten in place). Throws ContentPolicyViolation. */
export function filterInput(chat: ChatRequest, policy: CompiledPolicy, lexicon: Lexicon, detect: DetectOptions, tally: DecisionTally): InputOutcome {
  const vault = policy.reversible ? new PlaceholderVault() : undefined;
  // Placeholders already in the prompt (the app's own text) are never given out, so that
  // restoring the answer cannot turn the app's literal "<EMAIL_1>" into someone's address.
  if (vault) for (const t of messageTexts(chat.messages)) vault.reserveExisting(t);
  const privacyFound = new Set<PiiKind>();
  const filterText = (original: string): string => {
    const text = applyLexicon(original, lexicon, policy.lexiconInput, policy.mask, tally, 'input');
    if (!policy.inputKinds.size || !text) return text;
    const findings = detectPii(text, policy.inputKinds, detect);
    if (!findings.length) return text;
    const redact: PiiFinding[] = [];
    let blocked: string | undefined;
    for (const f of findings) {
      if (policy.privacy?.kinds.has(f.kind)) privacyFound.add(f.kind);
      const rule = policy.piiInput.get(f.kind);
      if (!rule) continue;
      tally.add('input', 'pii', f.kind, rule.action);
      if (rule.action === 'block') blocked ??= f.kind;
      else if (rule.action === 'redact') redact.push(f);
    }
    if (blocked) throw new ContentPolicyViolation('input', 'pii', blocked);
    if (!redact.length) return text;
    let out = '';
    let at = 0;
    for (const f of redact) {
      const value = text.slice(f.start, f.end);
      const reversible = vault && policy.piiInput.get(f.kind)?.reversible;
      out += text.slice(at, f.start) + (reversible ? vault.placeholderFor(f.kind, value) : redactedLabel(f.kind));
      at = f.end;
    }
    return out + text.slice(at);
  };
  // A term split over the text parts of one message reaches the model whole: blocked (or
  // counted) on the parts joined; masking works part by part.
  if (policy.lexiconInput.size) {
    for (const m of chat.messages) {
      if (!Array.isArray(m.content)) continue;
      const parts = m.content.flatMap((p) => (p.type === 'text' && typeof p.text === 'string' ? [p.text] : []));
      if (parts.length < 2) continue;
      const joined = lexicon.scan(parts.join(''));
      let at = 0;
      const bounds = parts.map((p) => (at += p.length));
      for (const h of joined.hits) {
        const action = policy.lexiconInput.get(h.category);
        // Only matches across a part boundary: the others are found part by part below.
        if (!action || !bounds.some((b) => h.start < b && h.end > b)) continue;
        tally.add('input', 'lexicon', h.category, action);
        if (action === 'block') throw new ContentPolicyViolation('input', 'lexicon', h.category);
      }
    }
  }
  rewriteMessageTexts(chat.messages, filterText);
  // Tool descriptions reach the model too.
  if (chat.tools) {
    chat.tools = chat.tools.map((t) => {
      const d = t.function.description;
      const next = d ? filterText(d) : d;
      return next === d ? t : { ...t, function: { ...t.function, description: next } };
    });
  }
  return {
    ...(vault && vault.size > 0 ? { vault } : {}),
    ...(privacyFound.size && policy.privacy ? { privacy: { kinds: [...privacyFound], allow: [...policy.privacy.allow] } } : {}),
  };
}
