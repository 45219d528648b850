/**
 * Content safety at run time: the lexicon in force (loaded at start, rebuilt in the background
 * on a config reload or an edit of a list file, the old one serving until the new one is
 * ready), the audit log, the metrics, and one `RequestSafety` per request.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { openAuditLog, type AuditLog } from '../audit/audit-log.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { RouteConfig, RouterConfig } from '../config/schema.js';
import type { ChatRequest } from '../core/chat-request.js';
import type { ChatChunk, ChatResponse } from '../core/chat-response.js';
import type { Identity } from '../identity/types.js';
import type { UsageRecord } from '../state/types.js';
import { DecisionTally, decisionCounts, type FilterDecision } from './decisions.js';
import { filterInput } from './input-filter.js';
import { buildLexicon, loadLexicon, type Lexicon, type LexiconListSpec } from './lexicon/lexicon.js';
import { filterResponse, filterStream, outputActive, type OutputContext } from './output-filter.js';
import { detectPii, type DetectOptions } from './pii/detect.js';
import { PII_GROUPS, type PiiKind } from './pii/kinds.js';
import { redactedLabel, type PlaceholderVault } from './pii/vault.js';
import { policyFor, type CompiledPolicy } from './policy.js';
import { ContentPolicyViolation } from './safety-errors.js';
import { createSafetyMetrics } from './safety-metrics.js';
import { maskSpans } from './mask.js';
import { messageTexts } from './text-fields.js';

/** Debounce of list-file edits before the lexicon is rebuilt. */
const WATCH_DEBOUNCE_MS = 250;
/** Longest captured text per audit line (a bounded line, whatever the prompt). */
const MAX_CAPTURE_CHARS = 64 * 1024;

/** Secrets are taken out of any text the router writes down, whatever the policy. */
const ALWAYS_REDACTED: ReadonlySet<PiiKind> = new Set(PII_GROUPS.secrets);

export interface SafetyRuntimeDeps {
  logger: Logger;
  registry: Registry;
  config: () => RouterConfig;
}

/** What the request path reads from the safety runtime for one request. */
export interface RequestSafety {
  readonly policy?: CompiledPolicy;
  /** Input rules (rewrites `chat` in place; sets chat.meta.privacy). Throws ContentPolicyViolation. */
  input(chat: ChatRequest): void;
  /** Filters a non-streamed answer in place. */
  response(res: ChatResponse): void;
  /** Filters a stream (identity when nothing applies to the answer). */
  stream(chunks: AsyncIterable<ChatChunk>, choices: number): AsyncIterable<ChatChunk>;
  /** Text for a log or audit line: secrets (and the policy's PII kinds) replaced by labels. */
  redactForRecord(text: string): string;
  decisions(): FilterDecision[];
  /**
   * Counts the decisions and writes the audit lines (once), when `record` (the usage record
   * being written) settles; close() waits for it, so a clean shutdown loses no line.
   */
  finish(info: { record: Promise<UsageRecord | undefined>; outcome: string; route: string; chat?: ChatRequest; answer?: string }): void;
}

const listSpecs = (loaded: LoadedConfig): LexiconListSpec[] =>
  Object.entries(loaded.config.safety.lexicons).map(([id, l]) => ({
    id,
    category: l.category,
    file: path.resolve(loaded.baseDir, l.file),
    wordBoundary: l.wordBoundary,
    separators: l.separators,
  }));

export function createSafetyRuntime(initial: LoadedConfig, deps: SafetyRuntimeDeps) {
  const { logger } = deps;
  let lexicon: Lexicon = buildLexicon([]);
  let lexiconKey = JSON.stringify([[], initial.config.safety.maxTerms]);
  /** Bumped by each build started, so an older build that finishes late never replaces a newer one. */
  let generation = 0;
  let watchers: FSWatcher[] = [];
  let watchTimer: NodeJS.Timeout | undefined;
  let loaded = initial;
  let audit: AuditLog | undefined;
  let auditKey: string | undefined;
  let closed = false;
  /** Audit lines waiting for their usage record. */
  const pending = new Set<Promise<void>>();
  const metrics = createSafetyMetrics(deps.registry, () => audit?.stats());

  const keyOf = (l: LoadedConfig) => JSON.stringify([listSpecs(l), l.config.safety.maxTerms]);

  /** Builds the lexicon of `l` and swaps it in; throws when a list cannot be read or is too big. */
  async function build(l: LoadedConfig, reason: string): Promise<void> {
    const mine = ++generation;
    const specs = listSpecs(l);
    const started = performance.now();
    try {
      const next = await loadLexicon(specs, { maxTerms: l.config.safety.maxTerms });
      if (mine !== generation || closed) return;
      lexicon = next;
      lexiconKey = keyOf(l);
      metrics.lexiconTerms(next.termCount);
      metrics.lexiconReload('ok');
      if (specs.length) logger.info({ lists: specs.length, terms: next.termCount, ms: Math.round(performance.now() - started), reason }, 'lexicon built');
      watchLists(specs);
    } catch (err) {
      metrics.lexiconReload('failed');
      throw err;
    }
  }

  /** Rebuilds when a list file changes (editors that replace by rename included: the folder is watched). */
  function watchLists(specs: readonly LexiconListSpec[]): void {
    for (const w of watchers) w.close();
    watchers = [];
    const byDir = new Map<string, Set<string>>();
    for (const s of specs) {
      const dir = path.dirname(s.file);
      byDir.set(dir, (byDir.get(dir) ?? new Set()).add(path.basename(s.file)));
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, (_e, name) => {
          if (!name || !names.has(String(name))) return;
          clearTimeout(watchTimer);
          watchTimer = setTimeout(() => {
            build(loaded, 'list file changed').catch((err: unknown) => logger.error({ err: (err as Error).message }, 'lexicon rebuild failed; the previous lexicon stays in force'));
          }, WATCH_DEBOUNCE_MS).unref();
        });
        w.unref();
        w.on('error', () => {});
        watchers.push(w);
      } catch (err) {
        logger.warn({ dir, err: (err as Error).message }, 'lexicon folder cannot be watched; edits need a config reload');
      }
    }
  }

  async function openAudit(l: LoadedConfig): Promise<void> {
    const a = l.config.audit;
    const key = JSON.stringify([a, l.config.state.dataDir, l.baseDir]);
    if (key === auditKey) return;
    const before = audit;
    if (a.enabled) {
      const dir = path.resolve(l.baseDir, l.config.state.dataDir, a.dir);
      audit = await openAuditLog({
        dir,
        maxFileBytes: a.maxFileBytes,
        maxQueue: a.maxQueue,
        flushIntervalMs: a.flushIntervalMs,
        ...(a.redis ? { redis: a.redis } : {}),
        logger: logger.child({ component: 'audit' }),
        onDrop: (n) => metrics.auditDropped(n),
      });
      logger.info({ dir, redis: a.redis ? a.redis.stream : undefined }, 'audit log open');
    } else audit = undefined;
    auditKey = key;
    await before?.close();
  }

  const detectOptions = (): DetectOptions => ({ entropyThreshold: deps.config().safety.entropyThreshold, minEntropyLength: deps.config().safety.minEntropyLength });

  function redactWith(text: string, kinds: ReadonlySet<PiiKind>): string {
    const findings = detectPii(text, kinds, detectOptions());
    if (!findings.length) return text;
    let out = '';
    let at = 0;
    for (const f of findings) {
      out += text.slice(at, f.start) + redactedLabel(f.kind);
      at = f.end;
    }
    return out + text.slice(at);
  }

  /** Written-down text: capped, every matched term (of any category) masked, the values of `kinds` replaced by labels. */
  function redactForRecordWith(lex: Lexicon, kinds: ReadonlySet<PiiKind>, text: string): string {
    const t = text.length > MAX_CAPTURE_CHARS ? text.slice(0, MAX_CAPTURE_CHARS) : text;
    return redactWith(maskSpans(t, lex.termCount ? lex.scan(t).hits : [], '*'), kinds);
  }

  /**
   * The safety of a request no policy applies to while no audit log is open (most requests of
   * most configs): nothing to filter, count or write. Text for a log line is still redacted.
   */
  const unfiltered: RequestSafety = Object.freeze({
    input() {},
    response() {},
    stream: (chunks: AsyncIterable<ChatChunk>) => chunks,
    redactForRecord: (text: string) => redactForRecordWith(lexicon, ALWAYS_REDACTED, text),
    decisions: (): FilterDecision[] => [],
    finish() {},
  });

  return {
    /** Loads the lexicon and opens the audit log; rejects (the router does not start) when a list is unusable. */
    async start(): Promise<void> {
      if (keyOf(loaded) !== lexiconKey) await build(loaded, 'start');
      await openAudit(loaded);
    },

    /**
     * Applies a reloaded config: the lexicon is rebuilt in the background when its lists
     * changed (requests keep the old one until the new one is ready; a failure keeps it).
     */
    commit(next: LoadedConfig): void {
      loaded = next;
      if (keyOf(next) !== lexiconKey) {
        build(next, 'config reload').catch((err: unknown) => logger.error({ err: (err as Error).message }, 'lexicon rebuild failed; the previous lexicon stays in force'));
      }
      openAudit(next).catch((err: unknown) => logger.error({ err: (err as Error).message }, 'audit log could not be reopened; the previous settings stay'));
    },

    lexicon: (): Lexicon => lexicon,
    auditLog: (): AuditLog | undefined => audit,

    /** The safety of one request (always: the audit log records requests without a policy too). */
    begin(ctx: { requestId: string; identity?: Identity; route?: RouteConfig }): RequestSafety {
      const config = deps.config();
      const policy = policyFor(config.safety, ctx.identity, ctx.route);
      // No policy and no audit log: nothing can be decided or written; one shared object.
      if (!policy && !audit) return unfiltered;
      const tally = new DecisionTally();
      const lex = lexicon;
      let vault: PlaceholderVault | undefined;
      let finished = false;
      const recordKinds: ReadonlySet<PiiKind> = policy ? new Set([...ALWAYS_REDACTED, ...policy.inputKinds]) : ALWAYS_REDACTED;
      const outputCtx = (): OutputContext | undefined => {
        if (!policy) return undefined;
        const o: OutputContext = { policy, lexicon: lex, detect: detectOptions(), tally, ...(vault ? { vault } : {}) };
        return outputActive(o) ? o : undefined;
      };
      // Written-down text never holds a matched term (of any category) or a detected value.
      const redactForRecord = (text: string) => redactForRecordWith(lex, recordKinds, text);
      return {
        ...(policy ? { policy } : {}),
        input(chat) {
          if (!policy) return;
          const out = filterInput(chat, policy, lex, detectOptions(), tally);
          vault = out.vault;
          if (out.privacy) {
            chat.meta.privacy = out.privacy;
            metrics.privacyRouted(chat.model);
          }
        },
        response(res) {
          const o = outputCtx();
          if (o) filterResponse(res, o);
        },
        stream(chunks, choices) {
          const o = outputCtx();
          return o ? filterStream(chunks, o, choices) : chunks;
        },
        redactForRecord,
        decisions: () => tally.list(),
        finish(info) {
          if (finished) return;
          finished = true;
          const decisions = tally.list();
          metrics.record(info.route, decisions);
          if (!audit) return;
          const p = info.record.then(
            (r) => write(r),
            () => write(undefined),
          );
          pending.add(p);
          void p.finally(() => pending.delete(p));
          function write(r: UsageRecord | undefined): void {
          const log = audit;
          if (!log) return;
          for (const d of decisions) log.write({ type: 'filter', requestId: ctx.requestId, route: info.route, ...(policy ? { policy: policy.name } : {}), ...d });
          const capture = deps.config().audit.captureText;
          log.write({
            type: 'request',
            requestId: ctx.requestId,
            keyId: r?.keyId ?? ctx.identity?.keyId,
            ...(r?.team ?? ctx.identity?.team ? { team: r?.team ?? ctx.identity?.team } : {}),
            route: info.route,
            ...(r?.provider ? { provider: r.provider, model: r.model } : {}),
            ...(r ? { tokens: r.tokens, costUsd: r.costUsd, latencyMs: r.latencyMs, stream: r.stream } : {}),
            outcome: info.outcome,
            ...(policy ? { policy: policy.name } : {}),
            filters: decisionCounts(decisions),
            ...(info.chat?.meta.privacy ? { privacy: info.chat.meta.privacy } : {}),
            ...(capture && info.chat ? { messages: messageTexts(info.chat.messages).map(redactForRecord) } : {}),
            ...(capture && info.answer !== undefined ? { answer: redactForRecord(info.answer) } : {}),
          });
          }
        },
      };
    },

    /** Stops watching list files and closes the audit log (everything queued is written). */
    async close(): Promise<void> {
      closed = true;
      clearTimeout(watchTimer);
      for (const w of watchers) w.close();
      watchers = [];
      await Promise.allSettled([...pending]);
      await audit?.close();
      audit = undefined;
    },
  };
}

export type SafetyRuntime = ReturnType<typeof createSafetyRuntime>;
export { ContentPolicyViolation };
