import { Counter, Gauge, type Registry } from 'prom-client';
import type { FilterDecision } from './decisions.js';

/** Filter decisions, lexicon state and the audit log, on the router's registry. */
export function createSafetyMetrics(registry: Registry, audit: () => { written: number; dropped: number; queued: number; redisErrors: number } | undefined) {
  const registers = [registry];
  const decisions = new Counter({
    name: 'llm_router_filter_decisions_total',
    help: 'Content filter decisions (lexicon categories and PII kinds), by action and direction; the matched text is never recorded.',
    labelNames: ['filter', 'category', 'action', 'direction'],
    registers,
  });
  const blocked = new Counter({
    name: 'llm_router_filter_blocked_requests_total',
    help: 'Requests (input) and answers (output) blocked by a content rule.',
    labelNames: ['route', 'direction'],
    registers,
  });
  const privacyRouted = new Counter({
    name: 'llm_router_privacy_restricted_total',
    help: 'Requests kept on local/trusted targets because their prompt carries PII of a privacy kind.',
    labelNames: ['route'],
    registers,
  });
  const lexiconTerms = new Gauge({ name: 'llm_router_lexicon_terms', help: 'Terms in the lexicon in force.', registers });
  const lexiconReloads = new Counter({ name: 'llm_router_lexicon_reloads_total', help: 'Lexicon builds, by result (ok, failed).', labelNames: ['result'], registers });
  const auditDropped = new Counter({ name: 'llm_router_audit_dropped_total', help: 'Audit lines dropped because the audit queue was full.', registers });
  new Gauge({
    name: 'llm_router_audit_queued_lines',
    help: 'Audit lines waiting to be written.',
    registers,
    collect() {
      this.set(audit()?.queued ?? 0);
    },
  });
  new Gauge({
    name: 'llm_router_audit_written_lines',
    help: 'Audit lines written since start.',
    registers,
    collect() {
      this.set(audit()?.written ?? 0);
    },
  });
  new Gauge({
    name: 'llm_router_audit_redis_errors',
    help: 'Failed writes of audit lines to the Redis stream since start.',
    registers,
    collect() {
      this.set(audit()?.redisErrors ?? 0);
    },
  });
  return {
    record(route: string, list: readonly FilterDecision[]): void {
      for (const d of list) decisions.inc({ filter: d.filter, category: d.category, action: d.action, direction: d.direction }, d.count);
      for (const direction of ['input', 'output'] as const) {
        if (list.some((d) => d.direction === direction && d.action === 'block')) blocked.inc({ route, direction });
      }
    },
    privacyRouted: (route: string) => privacyRouted.inc({ route }),
    lexiconTerms: (n: number) => lexiconTerms.set(n),
    lexiconReload: (result: 'ok' | 'failed') => lexiconReloads.inc({ result }),
    auditDropped: (n: number) => auditDropped.inc(n),
  };
}

export type SafetyMetrics = ReturnType<typeof createSafetyMetrics>;
