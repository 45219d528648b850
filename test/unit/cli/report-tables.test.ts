import { describe, expect, it } from 'vitest';
import { createBody, keyDetail, keysTable } from '../../../src/cli/commands/keys.js';
import { parseTargetSpec, reasonOf, stateOf, targetPath, targetsTable, type TargetSummary } from '../../../src/cli/commands/targets.js';
import { usageTable } from '../../../src/cli/commands/usage.js';
import { UsageError } from '../../../src/cli/cli-errors.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');

describe('targets', () => {
  it('reads PROVIDER/MODEL with the model keeping its slashes, and encodes each as one segment', () => {
    expect(parseTargetSpec('openai/gpt-4o-mini', 'drain')).toEqual({ provider: 'openai', model: 'gpt-4o-mini' });
    expect(parseTargetSpec('hf/meta-llama/Llama-3.1-8B', 'drain')).toEqual({ provider: 'hf', model: 'meta-llama/Llama-3.1-8B' });
    for (const bad of [undefined, 'openai', '/m', 'p/']) expect(() => parseTargetSpec(bad, 'drain')).toThrow(UsageError);
    expect(targetPath({ provider: 'hf', model: 'meta-llama/Llama 3' })).toBe('/admin/targets/hf/meta-llama%2FLlama%203');
  });

  it('shows state, since, probation progress and why, preferring the fleet\'s view', () => {
    const open: TargetSummary = { provider: 'openai', model: 'gpt-4o-mini', state: 'open', since: '2026-03-01T11:57:00Z', routes: ['chat'], lastError: { source: 'live', kind: 'server', message: '503 upstream overloaded' }, probation: null };
    const probation: TargetSummary = { provider: 'azure', model: 'gpt-4o', state: 'probation', since: '2026-03-01T11:59:30Z', routes: ['chat', 'big'], probation: { good: 7, promoteAfter: 20 } };
    const drained: TargetSummary = { provider: 'local', model: 'tiny', state: 'drained', since: '2026-03-01T10:00:00Z', drain: { by: 'key-0', reason: 'maintenance' } };
    const lines = targetsTable([open, probation, drained], NOW);
    expect(lines[0]).toMatch(/^TARGET\s+STATE\s+SINCE\s+PROBATION\s+ROUTES\s+REASON$/);
    expect(lines[1]).toMatch(/^openai\/gpt-4o-mini\s+open\s+2026-03-01 11:57:00Z \(3m ago\)\s+-\s+chat\s+live server: 503 upstream overloaded$/);
    expect(lines[2]).toMatch(/probation .* 7\/20 +chat,big +-$/);
    expect(lines[3]).toMatch(/drained by key-0: maintenance$/);
    // A healthy target's old error is no reason.
    expect(reasonOf({ ...open, state: 'healthy' })).toBe('-');
    const fleet: TargetSummary = { ...open, fleet: { state: 'probation', since: '2026-03-01T11:58:00Z', why: 'probe passed', probation: { good: 2, promoteAfter: 20 } } };
    expect(stateOf(fleet)).toBe('probation (here: open)');
    expect(targetsTable([fleet], NOW)[1]).toMatch(/probation \(here: open\)\s+2026-03-01 11:58:00Z \(2m ago\)\s+2\/20/);
    expect(targetsTable([], NOW)).toEqual(['no targets (health checks are off, or no provider is enabled)']);
  });
});

describe('usage', () => {
  it('prints group columns first, right-aligned figures, a TOTAL row, and marks unpriced costs', () => {
    const row = (key: string, route: string, requests: number, cost: number | null, unknown = 0) => ({
      group: { key, route },
      requests,
      tokens: { prompt: requests * 10, completion: requests * 2, cachedPrompt: 0, reasoning: 0 },
      costUsd: cost,
      costUnknownRequests: unknown,
      errors: 1,
      latencyMs: { p50: 640, p99: 4210 },
      ttftMs: { p50: null, p99: null },
    });
    const lines = usageTable({
      from: '2026-02-28T12:00:00.000Z',
      to: '2026-03-01T12:00:00.000Z',
      groupBy: ['key', 'route'],
      data: [row('key_a', 'chat', 1520, 3.4167), row('key_b', 'other', 3, 0, 2)],
      totals: { requests: 1523, tokens: { prompt: 15230, completion: 3046 }, costUsd: 3.4167, costUnknownRequests: 2, errors: 2, latencyMs: { p50: 640, p99: 4210 }, ttftMs: { p50: 100, p99: 900 } },
    });
    expect(lines[0]).toBe('usage 2026-02-28T12:00:00.000Z .. 2026-03-01T12:00:00.000Z by key, route');
    expect(lines[1]).toMatch(/^KEY\s+ROUTE\s+REQUESTS\s+PROMPT\s+COMPLETION\s+COST USD\s+ERRORS\s+P50\s+P99\s+TTFT P50\s+TTFT P99$/);
    expect(lines[2]).toMatch(/^key_a\s+chat\s+1520\s+15200\s+3040\s+3\.416700\s+1\s+640ms\s+4210ms\s+-\s+-$/);
    expect(lines[3]).toMatch(/0\.000000\*/);
    expect(lines[4]).toMatch(/^TOTAL\s+1523\s+15230\s+3046\s+3\.416700\*\s+2\s+640ms\s+4210ms\s+100ms\s+900ms$/);
    expect(lines.at(-1)).toMatch(/^\* some requests were served by a model without a price/);
    // Columns line up: every row has its REQUESTS figure ending where the header does.
    const end = lines[1]!.indexOf('REQUESTS') + 'REQUESTS'.length;
    for (const l of lines.slice(2, 5)) expect(l.slice(end - 4, end)).toMatch(/^[ \d]{3}\d$/);
    expect(usageTable({ from: 'a', to: 'b', groupBy: ['key'], data: [] })).toEqual(['usage a .. b by key', 'no usage in this range']);
  });
});

describe('keys', () => {
  it('lists keys and shows a new secret once, last', () => {
    const lines = keysTable([{ id: 'key_1', name: 'ci', status: 'active', prefix: 'sk-rt-ab12', routes: ['chat'], source: 'api', expiresAt: '2026-12-31T00:00:00Z' }, { id: 'cfg', name: 'gitops', status: 'revoked', prefix: '', source: 'config' }], NOW);
    expect(lines[1]).toMatch(/^key_1\s+ci\s+-\s+active\s+sk-rt-ab12\s+chat\s+2026-12-31 00:00:00Z\s+api$/);
    expect(lines[2]).toMatch(/^cfg\s+gitops\s+-\s+revoked\s+-\s+\*\s+-\s+config$/);
    const detail = keyDetail({ id: 'key_1', name: 'ci', secret: 'sk-rt-secret', limits: { rpm: 60 } }, NOW);
    expect(detail).toContain('limits:  rpm 60');
    expect(detail.at(-2)).toBe('secret: sk-rt-secret');
    expect(keyDetail({ id: 'key_1', name: 'ci' }, NOW).join('\n')).not.toMatch(/^secret:/m);
  });

  it('builds the create body from flags, refusing half a budget', () => {
    expect(createBody({ name: 'svc', team: 'pay', 'max-in-flight': '4', tpm: '1000', 'expires-at': '2026-12-31T00:00:00Z' })).toEqual({ name: 'svc', team: 'pay', limits: { tpm: 1000, maxInFlight: 4 }, expiresAt: '2026-12-31T00:00:00Z' });
    expect(createBody({ name: 'svc', 'budget-usd': '20', 'budget-period': 'month', 'soft-ratio': '0.8' }).budget).toEqual({ amountUsd: 20, period: 'month', softRatio: 0.8 });
    expect(() => createBody({ name: 'svc', 'budget-usd': '20', 'budget-period': 'week' })).toThrow(/day, month or total/);
    expect(() => createBody({ name: 'svc', 'soft-ratio': '0.5' })).toThrow(/needs --budget-usd/);
    expect(() => createBody({ name: 'svc', metadata: ['novalue'] })).toThrow(/key=value/);
  });
});
