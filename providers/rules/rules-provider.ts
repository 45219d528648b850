/**
 * The `rules` provider: answers from a file of keyword/regex rules in the normal chat format,
 * streamed or not. Meant as a target anywhere in a chain: FAQs first, or "the service is
 * degraded" last. When no rule matches and the file has no default it passes: a retryable
 * `not_found` (see NO_RULE_MATCHED), so the chain goes on and its breaker never counts it.
 */
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { contentText, type ChatRequest } from '../../src/core/chat-request.js';
import type { ChatChunk, ChatResponse, ChatStream, Usage } from '../../src/core/chat-response.js';
import { ProviderError } from '../../src/core/provider-error.js';
import type { CallNotes, CallOptions, Capabilities, HealthReport, Provider, Target } from '../../src/core/provider.js';
import { estimateTokens } from '../../src/routing/token-count.js';
import { chooseAnswer, type RuleMatch } from './match-rules.js';
import { loadRulesFile, type RuleSet } from './rules-file.js';

/** ProviderError.code when no rule matched and the file has no default. */
export const NO_RULE_MATCHED = 'no_rule_matched';
/** Response header naming the rule that answered (its name, `#<index>`, or `default`). */
export const RULE_HEADER = 'x-router-rule';

/** Deltas a streamed answer is cut into (at whitespace), at most. */
const STREAM_PIECES = 4;

export interface RulesProviderOptions {
  logger: Logger;
  /** Wall-clock milliseconds: {{date}}, and when the file is next checked for changes. */
  now?: () => number;
  /** Least time between two checks of the file for changes (one stat call); 0 checks on every request. */
  checkEveryMs?: number;
}

/**
 * A template answer costs nothing and cannot fail upstream. Tools: a request offering tools is
 * answered with text, which `tool_choice: auto` allows; one that requires a tool call passes.
 * No JSON modes: a template cannot promise valid JSON, so fit skips this target for them.
 */
const CAPABILITIES: Capabilities = Object.freeze({ tools: true, jsonObject: false, jsonSchema: false, maxChoices: 128, vision: true });

const fileKey = (path: string): string => {
  const st = statSync(path);
  return `${st.mtimeMs}:${st.size}:${st.ino}`;
};

/** Cuts `text` into at most `n` pieces at whitespace, so that they join back to `text`. */
export function streamPieces(text: string, n = STREAM_PIECES): string[] {
  const size = Math.ceil(text.length / n);
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + size);
    while (end < text.length && !/\s/.test(text[end]!)) end++;
    out.push(text.slice(start, end));
    start = end;
  }
  return out.length ? out : [''];
}

function aborted(id: string): ProviderError {
  return new ProviderError({ kind: 'aborted', provider: id, message: `${id}: the call was aborted` });
}

/** A rules provider over the file at `file` (absolute). Throws RulesFileError when the file is missing or invalid. */
export function createRulesFileProvider(id: string, file: string, opts: RulesProviderOptions): Provider {
  const now = opts.now ?? Date.now;
  const checkEveryMs = opts.checkEveryMs ?? 1_000;
  // Read once at build: a missing or broken file fails the build (the provider is then reported disabled, with why).
  let key = '';
  try {
    key = fileKey(file);
  } catch {
    // loadRulesFile says why, naming the file.
  }
  let rules: RuleSet = loadRulesFile(file);
  let checkedAt = now();
  let failedKey: string | undefined;

  /** Picks up an edited file; a broken edit is logged once and the last good rules stay. */
  function refresh(): void {
    const t = now();
    if (t - checkedAt < checkEveryMs) return;
    checkedAt = t;
    let next: string;
    try {
      next = fileKey(file);
    } catch (err) {
      if (failedKey !== 'missing') opts.logger.error({ file, err: (err as Error).message }, 'rules file not readable; the last good rules stay in use');
      failedKey = 'missing';
      return;
    }
    if (next === key || next === failedKey) return;
    try {
      rules = loadRulesFile(file);
      key = next;
      failedKey = undefined;
      opts.logger.info({ file, rules: rules.rules.length, default: rules.fallback !== undefined }, 'rules file reloaded');
    } catch (err) {
      failedKey = next;
      opts.logger.error({ file, err: (err as Error).message }, 'rules file changed but is invalid; the last good rules stay in use');
    }
  }

  function answer(req: ChatRequest, target: Target, signal: AbortSignal): RuleMatch {
    if (signal.aborted) throw aborted(id);
    const tc = req.toolChoice;
    if (req.tools?.length && (tc === 'required' || (typeof tc === 'object' && tc !== null))) {
      throw new ProviderError({ kind: 'not_found', retryable: true, provider: id, code: NO_RULE_MATCHED, message: `${id}: canned answers cannot call tools (tool_choice requires one)` });
    }
    refresh();
    const match = chooseAnswer(rules, req, { route: req.model, model: target.model, now: now() });
    if (!match) throw new ProviderError({ kind: 'not_found', retryable: true, provider: id, code: NO_RULE_MATCHED, message: `${id}: no rule matched the request` });
    return match;
  }

  function usageOf(req: ChatRequest, text: string, choices: number): Usage {
    // Rough counts: nothing is billed, but limits and metrics still see a plausible size.
    let promptTokens = 3;
    for (const m of req.messages) promptTokens += 4 + estimateTokens(contentText(m.content));
    const completionTokens = estimateTokens(text) * choices;
    return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
  }

  // A rules answer is a degradation step wherever it sits in a chain: the app is told so.
  const notesOf = (m: RuleMatch): CallNotes => ({ headers: { [RULE_HEADER]: m.rule, 'x-router-degraded': 'rules' } });
  const choicesOf = (req: ChatRequest) => req.params.n ?? 1;

  return {
    id,
    kind: 'rules',
    capabilities: () => ({ ...CAPABILITIES }),

    async chat(req, target, call: CallOptions): Promise<ChatResponse & { notes?: CallNotes }> {
      const m = answer(req, target, call.signal);
      const n = choicesOf(req);
      return {
        model: target.model,
        created: Math.floor(now() / 1000),
        choices: Array.from({ length: n }, (_, index) => ({ index, message: { content: m.text }, finishReason: 'stop' as const })),
        usage: usageOf(req, m.text, n),
        notes: notesOf(m),
      };
    },

    async stream(req, target, call: CallOptions): Promise<ChatStream & { notes?: CallNotes }> {
      // Chosen before the stream starts: a request no rule answers fails over like any refused call.
      const m = answer(req, target, call.signal);
      const n = choicesOf(req);
      const pieces = streamPieces(m.text);
      const usage = usageOf(req, m.text, n);
      const signal = call.signal;
      async function* chunks(): AsyncIterable<ChatChunk> {
        for (let index = 0; index < n; index++) {
          for (const text of pieces) {
            if (signal.aborted) throw aborted(id);
            yield { type: 'delta', index, text };
          }
        }
        for (let index = 0; index < n; index++) yield { type: 'finish', index, finish: 'stop' };
        yield { type: 'usage', usage };
      }
      return { model: target.model, chunks: chunks(), notes: notesOf(m) };
    },

    async health(): Promise<HealthReport> {
      refresh();
      return { ok: true, detail: `${rules.rules.length} rule(s)${rules.fallback ? ' and a default' : ''}`, latencyMs: 0 };
    },

    async close(): Promise<void> {},
  };
}
