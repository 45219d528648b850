import express, { type Response } from 'express';
import type { AdminResult } from '../health/health-gate.js';
import type { TargetView } from '../health/target-health.js';
import { KeyServiceError } from '../identity/key-service.js';
import { StateUnavailableError, type UsageSink } from '../state/types.js';
import { buildUsageReport } from '../usage/admin-usage-router.js';
import { parseTime } from '../usage/usage-query.js';
import { principalName, sessionOf, type DashboardAuth } from './dashboard-auth.js';
import { frameOf, isWindowName, type WindowName } from './dashboard-metrics.js';
import type { KeyAdmin, KeyDirectory } from './key-directory.js';
import { cacheView, countsOf, localModelsView, spendView } from './live-spend.js';
import { latencyView, trafficView } from './live-traffic.js';
import type { MetricSampler } from './metric-sampler.js';
import { toTargetRow } from './target-summary.js';
import type { TransitionLog } from './transition-log.js';

type MaybePromise<T> = T | Promise<T>;

/**
 * What the dashboard needs of the health gate (src/health/health-gate.ts; a HealthGate is one).
 * Answers may be promises, so the dashboard can also front a gate it reaches remotely.
 */
export interface TargetControls {
  targets(): MaybePromise<TargetView[]>;
  drain(provider: string, model: string, note?: { by?: string; reason?: string }): MaybePromise<AdminResult>;
  release(provider: string, model: string): MaybePromise<AdminResult>;
  restore(provider: string, model: string): MaybePromise<AdminResult>;
}

export interface DashboardApiDeps {
  auth: DashboardAuth;
  gate: () => TargetControls | undefined;
  sampler: MetricSampler;
  transitions: TransitionLog;
  directory: KeyDirectory;
  keys: () => KeyAdmin | undefined;
  usage: () => UsageSink | undefined;
  now: () => number;
  logger?: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

const REASON_MAX = 200;
/** Most ledger records one dashboard report reads (GET /admin/usage is the tool for big ones). */
const LEDGER_MAX_SCAN = 200_000;
const LEDGER_RANGES = new Set(['-1h', '-24h', '-7d']);

const fail = (res: Response, status: number, message: string, code: string, type = 'invalid_request_error') =>
  void res.status(status).json({ error: { message, type, param: null, code } });

const ACTIONS = ['drain', 'release', 'restore'] as const;
type Action = (typeof ACTIONS)[number];

/** The dashboard's JSON API (mounted under /api, behind a session). */
export function createDashboardApi(d: DashboardApiDeps): express.Router {
  const api = express.Router();
  api.use(d.auth.sameOriginOnly, d.auth.requireSession, (_req, res, next) => {
    res.setHeader('cache-control', 'no-store');
    next();
  });
  let ledgerBusy = false;

  api.get('/live', async (req, res) => {
    const window: WindowName = isWindowName(req.query.window) ? req.query.window : '5m';
    const route = typeof req.query.route === 'string' && req.query.route !== '' ? req.query.route : undefined;
    const now = d.now();
    const f = frameOf(window, now, d.sampler.startedAt);
    const gate = d.gate();
    const targets = gate ? await gate.targets() : [];
    d.transitions.observe(targets);
    const pick = route === undefined ? undefined : (g: { labels: Record<string, string> }) => g.labels.route === route;
    res.json({
      now: new Date(now).toISOString(),
      window,
      from: f.from,
      stepMs: f.stepMs,
      route: route ?? null,
      sampling: { startedAt: d.sampler.startedAt ?? null, lastAt: d.sampler.lastTickAt ?? null },
      health: gate ? 'on' : 'off',
      targets: targets.map((t) => toTargetRow(t, d.transitions.previousState(t.provider, t.model))),
      transitions: d.transitions.entries().map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
      traffic: trafficView(d.sampler, f),
      latency: latencyView(d.sampler, 'latency', f, pick),
      ttft: latencyView(d.sampler, 'ttft', f, pick),
      fallbacks: countsOf(d.sampler, 'fallbacks', f).map((r) => ({ route: r.labels.route, from: r.labels.from, to: r.labels.to, kind: r.labels.kind, count: r.count })),
      refusals: countsOf(d.sampler, 'refusals', f).map((r) => ({ route: r.labels.route, kind: r.labels.kind, count: r.count })),
      spend: spendView(d.sampler, f, await d.directory.keys()),
      cache: cacheView(d.sampler, f),
      local: localModelsView(d.sampler, f),
    });
  });

  api.get('/keys', async (_req, res) => {
    const service = d.keys();
    if (!service) return fail(res, 503, 'The key store is not open (yet).', 'starting', 'service_unavailable');
    try {
      const keys = await service.list();
      res.json({
        object: 'list',
        data: keys.map((k) => ({ id: k.id, name: k.name, team: k.team ?? null, status: k.status, source: k.source, prefix: k.prefix, createdAt: k.createdAt, expiresAt: k.expiresAt ?? null, revokedAt: k.revokedAt ?? null })),
      });
    } catch (err) {
      if (err instanceof StateUnavailableError) return fail(res, 503, 'The key store is unavailable; retry shortly.', 'state_unavailable', 'service_unavailable');
      throw err;
    }
  });

  // Exact spend per team and key from the usage ledger (the records behind GET /admin/usage).
  api.get('/usage', async (req, res) => {
    const range = typeof req.query.range === 'string' && LEDGER_RANGES.has(req.query.range) ? req.query.range : '-24h';
    const sink = d.usage();
    if (!sink) return fail(res, 503, 'The usage ledger is not open (yet).', 'starting', 'service_unavailable');
    if (ledgerBusy) return fail(res, 429, 'A ledger report is already being computed; retry shortly.', 'too_many_reports', 'rate_limit_error');
    ledgerBusy = true;
    try {
      const now = d.now();
      const q = { filters: {}, from: parseTime(range, 'from', now), to: new Date(now + 1), groupBy: ['team' as const, 'key' as const], format: 'json' as const };
      const report = await buildUsageReport(sink, q, LEDGER_MAX_SCAN, () => req.socket.destroyed);
      if (report) res.json(report);
    } catch (err) {
      if (err instanceof StateUnavailableError) return fail(res, 503, 'The usage ledger is unavailable; retry shortly.', 'state_unavailable', 'service_unavailable');
      throw err;
    } finally {
      ledgerBusy = false;
    }
  });

  const json = express.json({ limit: '16kb' });

  api.post('/targets/:provider/:model/:action', d.auth.requireCsrf, json, async (req, res) => {
    const { provider, model, action } = req.params as { provider: string; model: string; action: Action };
    if (!ACTIONS.includes(action)) return fail(res, 404, `Unknown action '${String(action).slice(0, 40)}'; use drain, release or restore.`, 'unknown_url');
    const gate = d.gate();
    if (!gate) return fail(res, 404, 'Health checks are not enabled, so there are no targets to manage.', 'target_not_found');
    const raw: unknown = (req.body as { reason?: unknown } | undefined)?.reason;
    if (raw !== undefined && typeof raw !== 'string') return fail(res, 400, 'reason must be a string.', 'invalid_value');
    const reason = raw?.trim() ? raw.trim().slice(0, REASON_MAX) : undefined;
    const by = principalName(sessionOf(res));
    const r = await (action === 'drain' ? gate.drain(provider, model, { by, reason }) : action === 'release' ? gate.release(provider, model) : gate.restore(provider, model));
    if (!r.ok) return fail(res, r.code === 'target_not_found' ? 404 : 409, r.message, r.code);
    d.logger?.info({ action, target: `${provider}/${model}`, by, reason }, `dashboard: target ${action === 'drain' ? 'drained' : action === 'release' ? 'released' : 'restored'}`);
    d.transitions.observe(await gate.targets());
    res.json(toTargetRow(r.target, d.transitions.previousState(provider, model)));
  });

  api.post('/keys/:id/revoke', d.auth.requireCsrf, async (req, res) => {
    const service = d.keys();
    if (!service) return fail(res, 503, 'The key store is not open (yet).', 'starting', 'service_unavailable');
    try {
      const key = await service.revoke((req.params as { id: string }).id);
      d.directory.invalidate();
      d.logger?.info({ key: key.id, by: principalName(sessionOf(res)) }, 'dashboard: key revoked');
      res.json({ id: key.id, name: key.name, status: key.status, revokedAt: key.revokedAt ?? null });
    } catch (err) {
      if (err instanceof KeyServiceError) return fail(res, err.code === 'not_found' ? 404 : err.code === 'invalid' ? 400 : 409, err.message, err.code === 'not_found' ? 'key_not_found' : err.code === 'read_only' ? 'key_read_only' : 'invalid_value');
      if (err instanceof StateUnavailableError) return fail(res, 503, 'The key store is unavailable; retry shortly.', 'state_unavailable', 'service_unavailable');
      throw err;
    }
  });

  return api;
}
