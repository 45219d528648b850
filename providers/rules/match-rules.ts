/** Which rule answers a request, and with what text. */
import { contentText, type ChatMessage, type ChatRequest } from '../../src/core/chat-request.js';
import type { CompiledRule, Role, RuleSet } from './rules-file.js';

/**
 * Only the last characters of a message are matched: regexes are operator input, and even a
 * pattern that passed the guard may be slow on a long text; questions sit at the end.
 */
export const MAX_MATCHED_CHARS = 4_000;

/** The chosen answer. */
export interface RuleMatch {
  /** The rule's label, or `default`. */
  rule: string;
  text: string;
}

const isRole = (m: ChatMessage, role: Role) => m.role === role || (role === 'system' && m.role === 'developer');

/** The text of the last message of `role`, capped to its last MAX_MATCHED_CHARS characters; undefined when there is none. */
export function lastText(messages: readonly ChatMessage[], role: Role): string | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (isRole(m, role)) return contentText(m.content).slice(-MAX_MATCHED_CHARS);
  }
  return undefined;
}

/** The groups of `rule` on `text` (index 0: the whole regex match, else the keyword), or undefined when it does not match. */
function matchRule(rule: CompiledRule, text: string): { groups: Array<string | undefined>; named?: Record<string, string | undefined> } | undefined {
  let keyword: string | undefined;
  if (rule.keywords) {
    const k = rule.keywords.exec(text);
    if (!k) return undefined;
    keyword = k[0];
  }
  if (!rule.regex) return { groups: [keyword] };
  // A sticky or global regex would carry lastIndex between requests; the file refuses those flags, and this resets anyway.
  rule.regex.lastIndex = 0;
  const m = rule.regex.exec(text);
  if (!m) return undefined;
  return { groups: [...m], named: m.groups };
}

/** Context a template renders with. */
export interface AnswerContext {
  route: string;
  model: string;
  /** Wall-clock milliseconds, for {{date}}. */
  now: number;
}

/** The first rule that matches `req` (in file order), else the default, else undefined. */
export function chooseAnswer(set: RuleSet, req: ChatRequest, ctx: AnswerContext): RuleMatch | undefined {
  const texts = new Map<Role, string | undefined>();
  for (const rule of set.rules) {
    if (!texts.has(rule.role)) texts.set(rule.role, lastText(req.messages, rule.role));
    const text = texts.get(rule.role);
    if (text === undefined) continue;
    const m = matchRule(rule, text);
    if (m) return { rule: rule.label, text: rule.answer.render({ ...ctx, groups: m.groups, named: m.named }) };
  }
  return set.fallback ? { rule: 'default', text: set.fallback.render({ ...ctx, groups: [] }) } : undefined;
}
