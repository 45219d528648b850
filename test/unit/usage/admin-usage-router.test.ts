import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';

import { createStateBackend, stateSchema } from '../../../src/state/index.js';
import { StateUnavailableError, type UsageQuery, type UsageRecord, type UsageSink } from '../../../src/state/types.js';
import { matchesUsage } from '../../../src/state/usage-match.js';
import { createAdminUsageRouter, type AdminUsageRouterOptions } from '../../../src/usage/admin-usage-router.js';
import { parseTime, parseUsageQuery, UsageQueryError } from '../../../src/usage/usage-query.js';

const NOW = Date.parse('2026-03-02T12:00:00.000Z');

/** A usage sink over an array, filtering as the real ones do, recording the limits asked for. */
class FakeUsageSink implements UsageSink {
  readonly limits: Array<number | undefined> = [];
  readonly queries: UsageQuery[] = [];
  failWith?: Error;
  constructor(readonly records: UsageRecord[] = []) {}
  append(record: UsageRecord): void {
    this.records.push(record);
  }
  async *query(q: UsageQuery, limit?: number): AsyncIterable<UsageRecord> {
    this.limits.push(limit);
    this.queries.push(q);
    if (this.failWith) throw this.failWith;
    let n = 0;
    for (const r of this.records) {
      if (!matchesUsage(q, r)) continue;
      yield r;
      if (limit !== undefined && ++n >= limit) return;
    }
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

let seq = 0;
function rec(extra: Partial<UsageRecord> = {}): UsageRecord {
  return {
    time: '2026-03-02T10:00:00.000Z',
    requestId: `req-${seq++}`,
    keyId: 'key_a',
    team: 'payments',
    route: 'chat',
    provider: 'openai',
    model: 'gpt-4o',
    tokens: { prompt: 100, completion: 20 },
    costUsd: 0.0001,
    latencyMs: 200,
    outcome: 'ok',
    stream: false,
    ...extra,
  };
}

function app(sink: UsageSink, opts: Partial<AdminUsageRouterOptions> = {}) {
  const a = express();
  a.use('/admin', createAdminUsageRouter({ usage: () => sink, now: () => NOW, ...opts }));
  return a;
}

const expectOpenAIError = (res: request.Response, status: number, param: string | null) => {
  expect(res.status).toBe(status);
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof res.body.error.message).toBe('string');
  expect(typeof res.body.error.code).toBe('string');
  expect(res.body.error.param).toBe(param);
};

describe('GET /admin/usage', () => {
  it('defaults to the last 24 hours grouped by key, sorted by cost, with exact sums', async () => {
    const sink = new FakeUsageSink([
      rec({ keyId: 'key_a', costUsd: 0.1, tokens: { prompt: 10, completion: 5, cachedPrompt: 4, reasoning: 2 }, latencyMs: 100, ttftMs: 30 }),
      rec({ keyId: 'key_a', costUsd: 0.2, tokens: { prompt: 20, completion: 5 }, latencyMs: 300, ttftMs: 50 }),
      rec({ keyId: 'key_b', costUsd: 1.5, latencyMs: 50 }),
      rec({ keyId: 'key_b', costUsd: null, outcome: 'rate_limit', latencyMs: 70 }),
      rec({ keyId: undefined, costUsd: 0.000000001 }),
      // Outside the default range (24 h before NOW).
      rec({ keyId: 'key_a', time: '2026-03-01T11:59:59.999Z', costUsd: 100 }),
      rec({ keyId: 'key_a', time: '2026-03-02T12:00:00.000Z', costUsd: 100 }),
    ]);
    const res = await request(app(sink)).get('/admin/usage');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ object: 'usage.report', from: '2026-03-01T12:00:00.000Z', to: '2026-03-02T12:00:00.000Z', groupBy: ['key'], filters: {}, scanned: 5, truncated: false });
    expect(res.body).not.toHaveProperty('note');
    expect(res.body.data.map((r: { group: unknown }) => r.group)).toEqual([{ key: 'key_b' }, { key: 'key_a' }, { key: null }]);
    const [b, a, none] = res.body.data;
    // 0.1 + 0.2 is 0.30000000000000004 in floating point; nano-dollar sums are exact.
    expect(a).toEqual({
      group: { key: 'key_a' },
      requests: 2,
      tokens: { prompt: 30, completion: 10, cachedPrompt: 4, reasoning: 2 },
      costUsd: 0.3,
      costUnknownRequests: 0,
      errors: 0,
      latencyMs: { p50: 100, p99: 300 },
      ttftMs: { p50: 30, p99: 50 },
    });
    expect(b).toMatchObject({ requests: 2, costUsd: 1.5, costUnknownRequests: 1, errors: 1, latencyMs: { p50: 50, p99: 70 }, ttftMs: { p50: null, p99: null } });
    expect(none).toMatchObject({ requests: 1, costUsd: 0.000000001 });
    expect(res.body.totals).toMatchObject({ requests: 5, costUsd: 1.800000001, costUnknownRequests: 1, errors: 1, tokens: { prompt: 330, completion: 70, cachedPrompt: 4, reasoning: 2 } });
    expect(res.body.totals).not.toHaveProperty('group');
    // The sink got the range and a bounded scan (1 000 000 + 1 to notice truncation).
    expect(sink.queries[0]).toMatchObject({ from: new Date('2026-03-01T12:00:00.000Z'), to: new Date(NOW) });
    expect(sink.limits).toEqual([1_000_001]);
  });

  it('filters by key, team and route in the sink and by provider and model after it', async () => {
    const sink = new FakeUsageSink([
      rec({ provider: 'openai', model: 'gpt-4o', costUsd: 1 }),
      rec({ provider: 'azure', model: 'gpt-4o', costUsd: 2 }),
      rec({ provider: 'azure', model: 'gpt-4o-mini', costUsd: 4 }),
      rec({ provider: 'azure', model: 'gpt-4o', team: 'growth', costUsd: 8 }),
      rec({ provider: 'azure', model: 'gpt-4o', route: 'other', costUsd: 16 }),
      rec({ provider: 'azure', model: 'gpt-4o', keyId: 'key_z', costUsd: 32 }),
    ]);
    const res = await request(app(sink)).get('/admin/usage').query({ key: 'key_a', team: 'payments', route: 'chat', provider: 'azure', model: 'gpt-4o', groupBy: 'none' });
    expect(res.status).toBe(200);
    expect(res.body.filters).toEqual({ key: 'key_a', team: 'payments', route: 'chat', provider: 'azure', model: 'gpt-4o' });
    expect(res.body.data).toEqual([expect.objectContaining({ group: {}, requests: 1, costUsd: 2 })]);
    expect(sink.queries[0]).toMatchObject({ key: 'key_a', team: 'payments', route: 'chat' });
  });

  it('groups by several dimensions, day and hour in UTC, and outcome', async () => {
    const sink = new FakeUsageSink([
      rec({ time: '2026-02-27T23:30:00.000+00:00', costUsd: 1 }),
      rec({ time: '2026-02-28T00:10:00.000Z', costUsd: 2 }),
      rec({ time: '2026-02-28T00:50:00.000Z', costUsd: 3, outcome: 'timeout' }),
      rec({ time: '2026-02-28T01:00:00.000Z', costUsd: 4, provider: undefined, model: undefined, outcome: 'no_healthy_upstream' }),
    ]);
    const hours = await request(app(sink)).get('/admin/usage?from=-7d&groupBy=hour,outcome');
    expect(hours.status).toBe(200);
    expect(hours.body.groupBy).toEqual(['hour', 'outcome']);
    expect(hours.body.data.map((r: { group: unknown; requests: number }) => [r.group, r.requests])).toEqual([
      [{ hour: '2026-02-28T01:00:00Z', outcome: 'no_healthy_upstream' }, 1],
      [{ hour: '2026-02-28T00:00:00Z', outcome: 'timeout' }, 1],
      [{ hour: '2026-02-28T00:00:00Z', outcome: 'ok' }, 1],
      [{ hour: '2026-02-27T23:00:00Z', outcome: 'ok' }, 1],
    ]);
    const days = await request(app(sink)).get('/admin/usage?from=2026-02-27&to=2026-03-01&groupBy=day,provider');
    expect(days.body.data.map((r: { group: unknown; costUsd: number; errors: number }) => [r.group, r.costUsd, r.errors])).toEqual([
      [{ day: '2026-02-28', provider: 'openai' }, 5, 1],
      [{ day: '2026-02-28', provider: null }, 4, 1],
      [{ day: '2026-02-27', provider: 'openai' }, 1, 0],
    ]);
  });

  it('sorts equal costs by requests, then by group, deterministically', async () => {
    const sink = new FakeUsageSink([rec({ keyId: 'b', costUsd: 1 }), rec({ keyId: 'a', costUsd: 1 }), rec({ keyId: 'c', costUsd: 0.5 }), rec({ keyId: 'c', costUsd: 0.5 }), rec({ keyId: 'd', costUsd: null })]);
    const res = await request(app(sink)).get('/admin/usage');
    expect(res.body.data.map((r: { group: { key: string } }) => r.group.key)).toEqual(['c', 'a', 'b', 'd']);
    expect(res.body.data[3]).toMatchObject({ costUsd: 0, costUnknownRequests: 1 });
  });

  it('computes nearest-rank percentiles', async () => {
    const sink = new FakeUsageSink(Array.from({ length: 200 }, (_, i) => rec({ latencyMs: 200 - i, ttftMs: i % 2 ? i : undefined })));
    const res = await request(app(sink)).get('/admin/usage');
    expect(res.body.data[0].latencyMs).toEqual({ p50: 100, p99: 198 });
    // ttft of the 100 odd i: 1, 3, …, 199.
    expect(res.body.data[0].ttftMs).toEqual({ p50: 99, p99: 197 });
  });

  it('stops at the scan bound and says so', async () => {
    const sink = new FakeUsageSink(Array.from({ length: 30 }, (_, i) => rec({ time: new Date(NOW - 3_600_000 + i * 1000).toISOString(), costUsd: 1 })));
    const res = await request(app(sink, { maxScan: 10 })).get('/admin/usage');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ scanned: 10, truncated: true });
    expect(res.body.note).toContain('10 records');
    expect(res.body.note).toContain(sink.records[9]!.time);
    expect(res.body.totals.requests).toBe(10);
    expect(sink.limits).toEqual([11]);
    const exact = await request(app(sink, { maxScan: 30 })).get('/admin/usage');
    expect(exact.body).toMatchObject({ scanned: 30, truncated: false });
  });

  it('answers CSV with a header line, group columns first, and formula-safe cells', async () => {
    const sink = new FakeUsageSink([
      rec({ keyId: 'key_a', team: '=HYPERLINK("http://evil")', costUsd: 0.25, ttftMs: 10 }),
      rec({ keyId: 'key_b', team: 'a,b "c"', costUsd: null }),
      rec({ keyId: 'key_c', team: '-1+1', costUsd: 0.000000001, latencyMs: 12.5 }),
    ]);
    const res = await request(app(sink)).get('/admin/usage?groupBy=key,team&format=csv');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['x-usage-truncated']).toBe('false');
    expect(res.headers['x-usage-scanned']).toBe('3');
    const lines = res.text.trimEnd().split('\r\n');
    expect(lines).toEqual([
      'key,team,requests,prompt_tokens,completion_tokens,cached_prompt_tokens,reasoning_tokens,cost_usd,cost_unknown_requests,errors,latency_p50_ms,latency_p99_ms,ttft_p50_ms,ttft_p99_ms',
      `key_a,"'=HYPERLINK(""http://evil"")",1,100,20,0,0,0.25,0,0,200,200,10,10`,
      "key_c,'-1+1,1,100,20,0,0,0.000000001,0,0,12.5,12.5,,",
      'key_b,"a,b ""c""",1,100,20,0,0,0,1,0,200,200,,',
    ]);
  });

  it.each([
    ['unknown parameter', 'limit=5', 'limit'],
    ['parameter given twice', 'key=a&key=b', 'key'],
    ['bracket syntax', 'key[a]=b', 'key[a]'],
    ['empty filter', 'team=', 'team'],
    ['too long a filter', `route=${'r'.repeat(257)}`, 'route'],
    ['a bad time', 'from=yesterday', 'from'],
    ['a time without zone', 'from=2026-03-01T10:00:00', 'from'],
    ['an impossible date', 'from=2026-02-30', 'from'],
    ['an impossible hour', 'to=2026-02-01T24:00:00Z', 'to'],
    ['a bad unit', 'from=-3y', 'from'],
    ['a positive relative time', 'from=24h', 'from'],
    ['from after to', 'from=-1h&to=-2h', 'from'],
    ['to before the default from', 'to=2020-01-01T00:00:00Z&from=2026-01-01', 'from'],
    ['an unknown dimension', 'groupBy=key,colour', 'groupBy'],
    ['an empty dimension', 'groupBy=key,,team', 'groupBy'],
    ['an empty groupBy', 'groupBy=', 'groupBy'],
    ['a repeated dimension', 'groupBy=key,key', 'groupBy'],
    ['a bad format', 'format=xml', 'format'],
  ])('400 for %s, naming the parameter', async (_what, qs, param) => {
    const sink = new FakeUsageSink([rec()]);
    const res = await request(app(sink)).get(`/admin/usage?${qs}`);
    expectOpenAIError(res, 400, param);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_value' });
    expect(sink.queries).toEqual([]);
  });

  it('a long unknown parameter name is cut in the answer', async () => {
    const res = await request(app(new FakeUsageSink())).get(`/admin/usage?${'x'.repeat(5000)}=1`);
    expectOpenAIError(res, 400, `${'x'.repeat(100)}…`);
    expect(res.body.error.message.length).toBeLessThan(400);
  });

  it('503 when the store is unavailable, a generic 500 for anything else', async () => {
    const sink = new FakeUsageSink([rec()]);
    sink.failWith = new StateUnavailableError('redis down at 10.0.0.7');
    const down = await request(app(sink)).get('/admin/usage');
    expectOpenAIError(down, 503, null);
    expect(down.body.error.code).toBe('state_unavailable');
    const errors: object[] = [];
    sink.failWith = new Error('secret internals');
    const boom = await request(app(sink, { logger: { error: (o) => errors.push(o) } })).get('/admin/usage');
    expectOpenAIError(boom, 500, null);
    expect(JSON.stringify(boom.body)).not.toContain('internals');
    expect(errors).toEqual([{ err: 'secret internals' }]);
  });

  it('503 starting while there is no sink yet', async () => {
    const res = await request(express().use('/admin', createAdminUsageRouter({ usage: () => undefined }))).get('/admin/usage');
    expectOpenAIError(res, 503, null);
    expect(res.body.error.code).toBe('starting');
    expect(res.headers['retry-after']).toBe('1');
  });

  it('reads the sink in force at each request', async () => {
    let sink = new FakeUsageSink([rec({ costUsd: 1 })]);
    const a = express().use('/admin', createAdminUsageRouter({ usage: () => sink, now: () => NOW }));
    expect((await request(a).get('/admin/usage')).body.totals.costUsd).toBe(1);
    sink = new FakeUsageSink([rec({ costUsd: 2 })]);
    expect((await request(a).get('/admin/usage')).body.totals.costUsd).toBe(2);
  });

  it('refuses more reports at once than allowed (429), and counts them down again', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: UsageSink = {
      append() {},
      async *query() {
        await gate;
        yield rec();
      },
      async flush() {},
      async close() {},
    };
    const a = app(slow, { maxConcurrent: 1 });
    const first = request(a).get('/admin/usage').then((r) => r);
    await new Promise((r) => setTimeout(r, 50));
    const second = await request(a).get('/admin/usage');
    expectOpenAIError(second, 429, null);
    expect(second.headers['retry-after']).toBe('1');
    release();
    expect((await first).status).toBe(200);
    expect((await request(a).get('/admin/usage')).status).toBe(200);
  });
});

describe('usage query parsing', () => {
  it('takes relative times, now, dates and offsets', () => {
    expect(parseTime('-90m', 'from', NOW).toISOString()).toBe('2026-03-02T10:30:00.000Z');
    expect(parseTime('-7d', 'from', NOW).toISOString()).toBe('2026-02-23T12:00:00.000Z');
    expect(parseTime('-2w', 'from', NOW).toISOString()).toBe('2026-02-16T12:00:00.000Z');
    expect(parseTime('-30s', 'from', NOW).toISOString()).toBe('2026-03-02T11:59:30.000Z');
    expect(parseTime('now', 'to', NOW).getTime()).toBe(NOW);
    expect(parseTime('2024-02-29', 'from', NOW).toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(parseTime('2026-03-01T10:00+02:00', 'from', NOW).toISOString()).toBe('2026-03-01T08:00:00.000Z');
    expect(parseTime('2026-03-01T10:00:00.123456Z', 'from', NOW).toISOString()).toBe('2026-03-01T10:00:00.123Z');
    expect(() => parseTime('2025-02-29', 'from', NOW)).toThrow(UsageQueryError);
    expect(() => parseTime('2026-03-01T10:00:00+24:00', 'from', NOW)).toThrow(UsageQueryError);
  });

  it('to alone moves the default window with it', () => {
    const q = parseUsageQuery({ to: '2026-01-10T00:00:00Z' }, NOW);
    expect(q.from.toISOString()).toBe('2026-01-09T00:00:00.000Z');
    expect(q).toMatchObject({ groupBy: ['key'], format: 'json', filters: {} });
  });
});

describe('GET /admin/usage over the real memory backend', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('reports what the JSONL ledger holds, across days', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'llm-router-usage-'));
    dirs.push(dataDir);
    const backend = await createStateBackend(stateSchema.parse({ backend: 'memory', dataDir }), { baseDir: dataDir });
    try {
      backend.usage.append(rec({ time: '2026-03-01T23:00:00.000Z', keyId: 'key_a', team: 't1', costUsd: 0.000123456 }));
      backend.usage.append(rec({ time: '2026-03-02T01:00:00.000Z', keyId: 'key_a', team: 't1', costUsd: 0.000000544 }));
      backend.usage.append(rec({ time: '2026-03-02T02:00:00.000Z', keyId: 'key_b', team: 't2', costUsd: null, outcome: 'timeout' }));
      backend.usage.append(rec({ time: '2026-02-20T02:00:00.000Z', keyId: 'key_b', team: 't2', costUsd: 9 }));
      const a = express().use('/admin', createAdminUsageRouter({ usage: () => backend.usage, now: () => NOW }));
      // No flush: the ledger flushes what is queued before a query.
      const res = await request(a).get('/admin/usage?groupBy=team,key');
      expect(res.status).toBe(200);
      expect(res.body.scanned).toBe(3);
      expect(res.body.data).toEqual([
        expect.objectContaining({ group: { team: 't1', key: 'key_a' }, requests: 2, costUsd: 0.000124, costUnknownRequests: 0 }),
        expect.objectContaining({ group: { team: 't2', key: 'key_b' }, requests: 1, costUsd: 0, costUnknownRequests: 1, errors: 1 }),
      ]);
      const month = await request(a).get('/admin/usage?from=2026-02-01&groupBy=day&format=csv');
      expect(month.status).toBe(200);
      expect(month.text.split('\r\n').slice(1, -1).map((l) => l.split(',').slice(0, 2).join(','))).toEqual(['2026-02-20,1', '2026-03-01,1', '2026-03-02,2']);
    } finally {
      await backend.close();
    }
  });
});
