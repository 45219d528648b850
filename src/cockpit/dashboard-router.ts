import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import type { UsageSink } from '../state/types.js';
import { DASHBOARD_ASSET_DIR } from './asset-dir.js';
import { createDashboardApi, type TargetControls } from './dashboard-api.js';
import { createDashboardAuth } from './dashboard-auth.js';
import { DASHBOARD_METRICS } from './dashboard-metrics.js';
import { createKeyDirectory, type KeyAdmin } from './key-directory.js';
import { createLoginLimiter, type LoginLimiterOptions } from './login-limiter.js';
import { MetricSampler } from './metric-sampler.js';
import { securityHeaders } from './security-headers.js';
import { createSessionStore, type SessionStoreOptions } from './session-store.js';
import { createTransitionLog } from './transition-log.js';

export type { TargetControls } from './dashboard-api.js';

export interface DashboardLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DashboardDeps {
  /** The health gate in force (server.ts rebuilds it on every reload); undefined: no targets to show. */
  gate: () => TargetControls | undefined;
  /** The router's prom-client registry (`metrics.registry`): the source of every chart. */
  registry: Registry;
  /** The admin keys in force (`runtime.config().auth.adminKeys`): the login keys. */
  adminKeys: () => readonly string[];
  /** The key service once the state backend is open (`policies.keyService()`): key list and revoke. */
  keys?: () => KeyAdmin | undefined;
  /** The usage ledger once open (`policies.state()?.usage`): the exact spend report. */
  usage?: () => UsageSink | undefined;
  /**
   * The operator listener bound to loopback (`adminOpen`): a browser on this machine gets a
   * session without a key, when it uses a loopback name in the URL (see dashboard-auth.ts).
   */
  open?: () => boolean;
  logger?: DashboardLogger;
  /** Sampling period of the registry; 0: no timer (tests call `sample()`). Default 1000. */
  sampleIntervalMs?: number;
  /** Where index.html, app.js… are (default: assets/dashboard of the package). */
  assetDir?: string;
  sessions?: SessionStoreOptions;
  login?: LoginLimiterOptions;
  now?: () => number;
}

/** The dashboard's router, with what its owner must call. */
export type DashboardRouter = express.Router & {
  /** Reads the registry once (the timer does it every second). */
  sample(): Promise<void>;
  /** Stops the sampling timer. */
  close(): void;
};

/**
 * The operator's dashboard, to mount at /dashboard wherever /admin is served:
 *
 *   GET  /                 the page (GET /dashboard redirects here, so relative URLs work)
 *   GET  /app.js …         its static files (assets/dashboard)
 *   POST /login            {"key": "<admin key>"} (JSON or a form): sets the session cookie
 *   POST /logout           ends the session
 *   GET  /api/session      the session's CSRF token (401: log in)
 *   GET  /api/live         targets, transitions, traffic, latency, spend… (?window=5m|15m|60m&route=)
 *   GET  /api/keys         the virtual keys
 *   GET  /api/usage        spend per team and key from the usage ledger (?range=-1h|-24h|-7d)
 *   POST /api/targets/:provider/:model/(drain|release|restore)   (x-csrf-token)
 *   POST /api/keys/:id/revoke                                   (x-csrf-token)
 *
 * It needs no body parser or auth in front of it: it has its own (an admin key in a login
 * form, then a session cookie), since a browser cannot send `Authorization: Bearer`.
 */
export function createDashboardRouter(deps: DashboardDeps): DashboardRouter {
  const now = deps.now ?? Date.now;
  const logger = deps.logger;
  const assetDir = deps.assetDir ?? DASHBOARD_ASSET_DIR;
  const sessionOpts = { idleMs: 30 * 60_000, maxAgeMs: 12 * 3_600_000, ...deps.sessions, now: deps.sessions?.now ?? now };
  const sessions = createSessionStore(sessionOpts);
  const auth = createDashboardAuth({
    adminKeys: deps.adminKeys,
    open: deps.open,
    sessions,
    limiter: createLoginLimiter({ ...deps.login, now: deps.login?.now ?? now }),
    cookieMaxAgeSeconds: Math.floor(sessionOpts.maxAgeMs / 1000),
    logger,
  });
  const sampler = new MetricSampler({ registry: deps.registry, metrics: DASHBOARD_METRICS, now });
  const transitions = createTransitionLog();
  const keys = deps.keys ?? (() => undefined);
  const directory = createKeyDirectory(keys, { now });

  let ticking: Promise<void> | undefined;
  let warned = false;
  const sample = (): Promise<void> =>
    (ticking ??= (async () => {
      try {
        await sampler.tick();
        const gate = deps.gate();
        if (gate) transitions.observe(await gate.targets());
        sessions.sweep();
      } catch (err) {
        if (!warned) logger?.warn({ err: (err as Error).message }, 'dashboard: sampling the metrics failed');
        warned = true;
      } finally {
        ticking = undefined;
      }
    })());
  const interval = deps.sampleIntervalMs ?? 1000;
  const timer = interval > 0 ? setInterval(() => void sample(), interval) : undefined;
  timer?.unref();
  void sample();

  const router = express.Router();
  router.use(securityHeaders);

  router.get('/', (req, res) => {
    // /dashboard → /dashboard/: the page's relative URLs (app.js, api/live) then resolve under it.
    const [path, query] = req.originalUrl.split('?', 2) as [string, string | undefined];
    if (!path.endsWith('/')) return void res.redirect(302, `${path}/${query === undefined ? '' : `?${query}`}`);
    if (!assetDir) return void res.status(503).type('text/plain').send('The dashboard assets (assets/dashboard) are missing from this installation.');
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(join(assetDir, 'index.html'));
  });

  const form = [express.json({ limit: '16kb' }), express.urlencoded({ extended: false, limit: '16kb' })];
  router.post('/login', ...form, auth.login);
  router.post('/logout', auth.sameOriginOnly, auth.logout);
  router.get('/api/session', auth.sameOriginOnly, auth.session);
  router.use('/api', createDashboardApi({ auth, gate: deps.gate, sampler, transitions, directory, keys, usage: deps.usage ?? (() => undefined), now, logger }));

  if (assetDir) {
    router.use(
      express.static(assetDir, {
        index: false,
        redirect: false,
        dotfiles: 'ignore',
        fallthrough: true,
        setHeaders: (res) => res.setHeader('cache-control', 'no-cache'),
      }),
    );
  }

  router.use((_req: Request, res: Response) => {
    res.status(404).json({ error: { message: 'Not found.', type: 'invalid_request_error', param: null, code: 'unknown_url' } });
  });
  router.use((err: { type?: string; status?: number; message?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return void res.end();
    if (err.type === 'entity.parse.failed') return void res.status(400).json({ error: { message: 'The body is not valid JSON.', type: 'invalid_request_error', param: null, code: 'invalid_json' } });
    if (err.type === 'entity.too.large') return void res.status(413).json({ error: { message: 'The body is too large.', type: 'invalid_request_error', param: null, code: 'request_too_large' } });
    logger?.error({ err: err.message }, 'dashboard request failed');
    res.status(500).json({ error: { message: 'The dashboard failed to process the request.', type: 'server_error', param: null, code: 'internal_error' } });
  });

  return Object.assign(router, {
    sample,
    close: () => {
      if (timer) clearInterval(timer);
    },
  });
}
