import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Logger } from 'pino';
import { isLoopback } from './cli-args.js';
import type { LoadedConfig } from './config/load-config.js';
import type { RouterConfig } from './config/schema.js';
import { createApp } from './edge/app.js';
import { createFront, type Front } from './edge/front.js';
import { createInflightRegistry } from './edge/inflight.js';
import { applyLimits, createListener, type Listener } from './edge/listener.js';
import { readTlsMaterial, secureOptions, watchTls, type TlsWatcher } from './edge/tls.js';
import { createAdminRouter } from './health/admin-router.js';
import { createHealthGate, type HealthGate } from './health/health-gate.js';
import { createRedisFleetHealth } from './health/redis-fleet.js';
import { createAdminKeysRouter } from './identity/admin-keys-router.js';
import type { Metrics } from './observability/metrics.js';
import { keyUsage } from './policies/key-usage.js';
import { createAdminUsageRouter } from './usage/admin-usage-router.js';
import { clientAuthConfigured, createPolicyRuntime, type PolicyRuntime } from './runtime/policy-runtime.js';
import type { Identity } from './identity/types.js';
import { createRuntime, type RuntimeDeps } from './runtime/runtime.js';
import { createSafetyRuntime } from './safety/safety-runtime.js';
import { createFeatureRuntime } from './runtime/feature-runtime.js';
import { createDashboardRouter } from './cockpit/dashboard-router.js';
import { createTracing, type Tracing, type TracingConfig } from './observability/tracing.js';

export interface ServerDeps {
  logger: Logger;
  metrics: Metrics;
  buildProvider: RuntimeDeps['buildProvider'];
  random?: () => number;
  /** fetch for the budget webhook (tests). */
  fetch?: typeof fetch;
}

/**
 * Why a config cannot serve on `host`: client auth must never be off on a listener reachable
 * beyond loopback (at start, and on every reload: a `${TYPO}` or an emptied list would
 * otherwise switch it off silently). Legacy keys, virtual keys, JWT and `auth.requireKeys`
 * all count as client auth.
 */
export function authProblem(config: RouterConfig, host: string): string | undefined {
  if (!clientAuthConfigured(config) && !isLoopback(host)) {
    return `no client auth (auth.keys is empty or its variables are unset, and auth.virtualKeys, auth.jwt and auth.requireKeys are not set) while listening on ${host}, beyond loopback: set client keys or bind to 127.0.0.1`;
  }
  return undefined;
}

/** How many keys were added and removed, and how many there are now: counts, never keys. */
function keyChanges(before: readonly string[], after: readonly string[]) {
  const b = new Set(before);
  const a = new Set(after);
  return { added: [...a].filter((k) => !b.has(k)).length, removed: [...b].filter((k) => !a.has(k)).length, total: a.size };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
/** True when `p` settled within `ms`. */
const within = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true), sleep(ms).then(() => false)]);

/** How long streams ended by the shutdown get to write their error event and [DONE]. */
const INTERRUPT_GRACE_MS = 1_000;
/** How long closing the providers (and the local model's worker) may take at shutdown. */
const RUNTIME_CLOSE_MS = 10_000;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Who a job runs as: a virtual key is looked up again (undefined when it was revoked or has
 * expired since the job was submitted: the job fails 401); a JWT subject, a legacy key or the
 * anonymous caller keep the id and team they submitted with (their limits are the routes').
 */
async function jobIdentity(policies: PolicyRuntime, owner: string, team: string | undefined): Promise<Identity | undefined> {
  const view = await policies.keyService()?.get(owner);
  if (view) {
    if (view.status !== 'active') return undefined;
    return { kind: 'key', keyId: view.id, name: view.name, ...(view.team !== undefined ? { team: view.team } : {}), ...(view.routes ? { routes: view.routes } : {}), ...(view.limits ? { limits: view.limits } : {}), ...(view.budget ? { budget: view.budget } : {}) };
  }
  const kind = owner.startsWith('jwt:') ? 'jwt' : owner === 'anonymous' ? 'anonymous' : 'static';
  return { kind, keyId: owner, ...(team !== undefined ? { team } : {}) };
}

/** Wires config, providers, runtime, apps and listeners; used by main.ts and by integration tests. */
export function createServer(loaded: LoadedConfig, deps: ServerDeps) {
  const { logger, metrics } = deps;
  // The gate in force; each config reload builds a new one that inherits the old one's states.
  let gate: HealthGate | undefined;
  // Target health shared by the instances on one Redis: one per process, kept across reloads.
  const fleet = loaded.config.state.backend === 'redis' ? createRedisFleetHealth({ backend: () => policies.state(), logger, registry: metrics.registry }) : undefined;
  const runtime = createRuntime(loaded, {
    buildProvider: deps.buildProvider,
    logger,
    metrics,
    random: deps.random,
    buildGate: (next, providers) =>
      (gate = createHealthGate({
        routes: next.config.routes,
        providers,
        logger,
        metrics: { ...metrics.health, tokens: metrics.tokens },
        random: deps.random,
        previous: gate,
        fleet,
      })),
  });
  const inflight = createInflightRegistry();
  // State, identity, prices and limits: opened by listen() (async), kept across reloads.
  const policies = createPolicyRuntime(loaded, { logger, metrics, config: () => runtime.config(), fetch: deps.fetch });
  // Lexicons, PII detectors, privacy routing and the audit log: loaded by listen(), kept across reloads.
  // Cache, sessions, jobs and stream buffers: opened by listen() on the state backend.
  const features = createFeatureRuntime({ logger, registry: metrics.registry, config: () => runtime.config(), state: () => policies.state(), inflight });
  const safety = createSafetyRuntime(loaded, { logger: logger.child({ component: 'safety' }), registry: metrics.registry, config: () => runtime.config() });
  let draining = false;
  const startCfg = loaded.config.server;
  // The operator listener is set up at start; changing server.adminListen needs a restart.
  const adminListen = startCfg.adminListen;
  const adminRouter = createAdminRoutes(() => gate, policies, runtime, logger);
  const clientAuth = { authenticator: policies.authenticator, open: policies.open };
  const dashboard = createDashboardRouter({
    gate: () => gate,
    registry: metrics.registry,
    adminKeys: () => runtime.config().auth.adminKeys,
    keys: () => policies.keyService(),
    usage: () => policies.state()?.usage,
    open: () => adminListen !== undefined && isLoopback(adminListen.host),
    logger: logger.child({ component: 'dashboard' }),
  });
  // Traces: built by listen() and rebuilt when a reload changes the tracing section (the old
  // exporter flushes first). The OpenTelemetry SDK is imported only once a config sets an endpoint.
  let tracing: Tracing | undefined;
  // Bumped by every change of the tracing in force: a build that finishes after a newer one began
  // (or after close) is shut down instead of installed.
  let tracingGen = 0;
  const applyTracing = async (cfg: TracingConfig): Promise<void> => {
    const gen = ++tracingGen;
    const next = await createTracing(cfg);
    if (gen !== tracingGen) {
      void next?.shutdown().catch(() => {});
      return;
    }
    const old = tracing;
    tracing = next;
    void old?.shutdown().catch(() => {});
  };
  const stopTracing = async (): Promise<void> => {
    tracingGen++;
    const old = tracing;
    tracing = undefined;
    await old?.shutdown().catch(() => {});
  };
  const app = createApp({ tracing: () => tracing, dashboard, runtime, metrics, logger, admin: adminRouter, role: 'main', operatorListener: adminListen !== undefined, draining: () => draining, inflight, clientAuth, meter: policies.meter, safety, features, jobIdentity: (owner, team) => jobIdentity(policies, owner, team) });
  const front: Front = createFront(app, { cors: () => runtime.config().server.cors, logger, ...(app.fastLane ? { fast: app.fastLane } : {}) });
  const adminApp = adminListen ? createApp({ dashboard, runtime, metrics, logger, admin: adminRouter, role: 'admin', adminOpen: isLoopback(adminListen.host), draining: () => draining }) : undefined;

  let main: Listener | undefined;
  let admin: Listener | undefined;
  let mainHost: string | undefined;
  let tlsWatcher: TlsWatcher | undefined;
  let tlsOn = false;
  let shutdown: Promise<boolean> | undefined;

  const listenOn = (server: Listener, port: number, host: string) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  const closeListener = (server: Listener | undefined) => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));

  return {
    /** The main listener's express app (supertest talks to it without a socket). */
    app,
    /** The operator listener's app, when server.adminListen is set. */
    adminApp,
    runtime,
    inflight,
    /** State backend, keys, prices, limits (open once listen() resolved). */
    policies,
    /** Lexicons, detectors, the audit log (loaded once listen() resolved). */
    safety,
    /** The response cache, sessions, jobs, stream buffers (open once listen() resolved). */
    features,

    /**
     * Listens on host:port (the main listener, HTTPS when server.tls is set) and on
     * server.adminListen when set. Throws (TlsFileError) when the TLS files are unusable.
     */
    async listen(port: number, host: string): Promise<void> {
      // The state backend, the key secret and the config keys first: no request is taken before.
      await policies.start();
      // The lexicon before the first request: a policy that says block never serves unfiltered.
      await safety.start();
      await features.start();
      // Traces from the first request on.
      await applyTracing(runtime.config().tracing);
      const cfg = runtime.config().server;
      const tls = cfg.tls ? readTlsMaterial(cfg.tls, loaded.baseDir) : undefined;
      if (tls?.info.expired) logger.warn({ cert: tls.certPath, validTo: tls.info.validTo }, 'TLS certificate has expired');
      main = createListener(front.handle, { limits: cfg.limits, tls: tls && secureOptions(tls), logger, name: 'main' });
      await listenOn(main, port, host);
      mainHost = host;
      if (tls && cfg.tls) {
        tlsOn = true;
        tlsWatcher = watchTls(main as HttpsServer, tls, cfg.tls, loaded.baseDir, logger);
        logger.info({ cert: tls.certPath, subject: tls.info.subject, validTo: tls.info.validTo, minVersion: tls.minVersion }, 'TLS on');
      }
      if (adminApp && adminListen) {
        const adminFront = createFront(adminApp, { cors: () => undefined, logger });
        admin = createListener(adminFront.handle, { limits: cfg.limits, logger, name: 'admin' });
        await listenOn(admin, adminListen.port, adminListen.host);
      }
    },
    port: (): number => (main?.address() as AddressInfo | null)?.port ?? 0,
    /** Port of the operator listener (0 when there is none). */
    adminPort: (): number => (admin?.address() as AddressInfo | null)?.port ?? 0,
    /** The main listener speaks HTTPS. */
    tls: (): boolean => tlsOn,

    /**
     * Applies an edited config, or refuses it (logged, counted as rejected; the last good
     * config stays): one that would leave the main listener beyond loopback without client keys.
     * Changes to the keys are logged at warn, as counts. Returns whether it was applied.
     */
    reload(next: LoadedConfig): boolean {
      const before = runtime.config();
      const host = mainHost ?? before.server.host;
      const problem = authProblem(next.config, host);
      if (problem) {
        metrics.configReloads.inc({ result: 'rejected' });
        logger.error({ problem }, 'config edit rejected: it would switch client auth off; the last good config stays in force');
        return false;
      }
      // JWT keys and prices are built before anything is applied: a bad jwksFile or price table rejects the edit.
      let prepared: ReturnType<typeof policies.prepare>;
      try {
        prepared = policies.prepare(next);
      } catch (err) {
        metrics.configReloads.inc({ result: 'rejected' });
        logger.error({ problem: (err as Error).message }, 'config edit rejected; the last good config stays in force');
        return false;
      }
      const clientKeys = keyChanges(before.auth.keys, next.config.auth.keys);
      const adminKeys = keyChanges(before.auth.adminKeys, next.config.auth.adminKeys);
      const virtualKeys = keyChanges(before.auth.virtualKeys.map((k) => k.id), next.config.auth.virtualKeys.map((k) => k.id));
      const jwt = { before: before.auth.jwt !== undefined, after: next.config.auth.jwt !== undefined };
      if (clientKeys.added || clientKeys.removed || adminKeys.added || adminKeys.removed || virtualKeys.added || virtualKeys.removed || jwt.before !== jwt.after) {
        const open = !clientAuthConfigured(next.config);
        logger.warn({ clientKeys, adminKeys, virtualKeys, jwt: jwt.after, ...(open ? { note: `no client auth: /v1 needs no key on ${host}` } : {}) }, 'auth keys changed by a config reload');
      }
      const s = next.config.server;
      const restart: string[] = (['host', 'port', 'adminListen', 'trustProxy'] as const).filter((k) => !same(before.server[k], s[k]));
      if (!before.server.tls !== !s.tls) restart.push('tls');
      if (restart.length) logger.warn({ fields: restart.map((k) => `server.${k}`) }, 'these server settings take effect at the next restart');
      runtime.reload(next);
      if (!same(before.tracing, next.config.tracing)) {
        // Installed once built: at once when the SDK is loaded already, else after its import.
        applyTracing(next.config.tracing).catch((err: unknown) => logger.error({ err: (err as Error).message }, 'tracing could not be set up; the tracing in force before the reload stays'));
      }
      policies.commit(prepared);
      safety.commit(next);
      for (const l of [main, admin]) if (l) applyLimits(l, s.limits);
      if (tlsWatcher && s.tls && !same([before.server.tls, loaded.baseDir], [s.tls, next.baseDir])) tlsWatcher.update(s.tls, next.baseDir);
      metrics.configReloads.inc({ result: 'ok' });
      logger.info({ routes: Object.keys(next.config.routes), disabled: Object.fromEntries(next.disabled) }, 'config reloaded');
      return true;
    },

    /** Draining or drained. */
    draining: (): boolean => draining,

    /**
     * Graceful shutdown. New connections are refused at once and /readyz says 503; idle
     * keep-alive connections are closed, and answers during the drain say `Connection: close`.
     * Requests in flight get `drainMs` to finish; then streams still running end with a
     * `server_shutting_down` error event and [DONE], and answers not started get a 503. The
     * operator listener serves until the end. Finally providers (and the local model's worker)
     * are closed. Resolves true when everything finished within drainMs (a clean drain).
     */
    shutdown(opts: { drainMs?: number } = {}): Promise<boolean> {
      shutdown ??= (async () => {
        const drainMs = opts.drainMs ?? runtime.config().server.drainMs;
        draining = true;
        front.startDrain();
        // Still serving, but /readyz says 503 and every answer closes its connection: the load
        // balancer takes this instance out before its listener goes away.
        const delayMs = runtime.config().server.shutdownDelayMs;
        if (delayMs > 0) {
          logger.info({ delayMs }, 'shutting down: out of rotation, still serving until the delay is over');
          await sleep(delayMs);
          front.startDrain();
        }
        logger.info({ inFlight: inflight.size, drainMs }, 'shutting down: draining requests in flight');
        // close() stops accepting and (Node ≥ 19) closes idle keep-alive connections; it calls
        // back once every connection is gone.
        const closed = closeListener(main);
        main?.closeIdleConnections();
        let clean = await within(closed, drainMs);
        if (!clean) {
          logger.warn({ inFlight: inflight.size, drainMs }, 'drain time is up: ending the requests still in flight');
          inflight.interrupt();
          await within(inflight.idle(), INTERRUPT_GRACE_MS);
          if (!(await within(closed, INTERRUPT_GRACE_MS))) main?.closeAllConnections();
          await within(closed, INTERRUPT_GRACE_MS);
        } else {
          logger.info('drained: every request in flight finished');
        }
        tlsWatcher?.close();
        dashboard.close();
        await stopTracing();
        const adminClosed = closeListener(admin);
        admin?.closeAllConnections();
        await adminClosed;
        if (!(await within(runtime.close(), RUNTIME_CLOSE_MS))) {
          logger.warn({ ms: RUNTIME_CLOSE_MS }, 'providers did not close in time');
          clean = false;
        }
        if (!(await within(features.close(), RUNTIME_CLOSE_MS))) {
          logger.warn({ ms: RUNTIME_CLOSE_MS }, 'the cache and job stores did not close in time');
          clean = false;
        }
        if (!(await within(safety.close(), RUNTIME_CLOSE_MS))) {
          logger.warn({ ms: RUNTIME_CLOSE_MS }, 'the audit log did not close in time');
          clean = false;
        }
        // Last: the usage records of everything that just finished are written before the state closes.
        if (!(await within(policies.close(), RUNTIME_CLOSE_MS))) {
          logger.warn({ ms: RUNTIME_CLOSE_MS }, 'the state backend did not close in time');
          clean = false;
        }
        return clean;
      })();
      return shutdown;
    },

    /** Closes at once, cutting whatever is in flight (tests; shutdown() is the graceful way). */
    async close(): Promise<void> {
      tlsWatcher?.close();
      dashboard.close();
      await stopTracing();
      await Promise.all(
        [main, admin].map((l) => {
          const p = closeListener(l);
          l?.closeAllConnections();
          return p;
        }),
      );
      await runtime.close();
      await features.close();
      await safety.close();
      await policies.close();
    },
  };
}

/**
 * Everything under /admin: failover controls (/targets), virtual keys (/keys) and usage
 * reports (/usage); the last two once the state backend is open.
 */
function createAdminRoutes(gate: () => HealthGate | undefined, policies: ReturnType<typeof createPolicyRuntime>, runtime: ReturnType<typeof createRuntime>, logger: Logger): express.Router {
  const router = express.Router();
  router.use(createAdminRouter(gate));
  let keys: express.Router | undefined;
  const routeMap = () => new Map(Object.entries(runtime.config().routes));
  router.use((req, res, next) => {
    if (req.path !== '/keys' && !req.path.startsWith('/keys/')) return next();
    const service = policies.keyService();
    const state = policies.state();
    if (!service || !state) {
      res.status(503).json({ error: { message: 'The key store is not open yet; retry shortly.', type: 'service_unavailable', param: null, code: 'starting' } });
      return;
    }
    keys ??= createAdminKeysRouter(service, {
      routeNames: () => runtime.dispatcher().routeNames(),
      // Where the key stands now against its limits and budgets (peeked: nothing is reserved).
      usageOf: async (id) => {
        const key = await service.get(id);
        const s = policies.state();
        if (!key || !s) return undefined;
        const teams = runtime.config().budgets.teams;
        const teamBudget = key.team !== undefined && Object.hasOwn(teams, key.team) ? teams[key.team] : undefined;
        return keyUsage(s.limiter, key, { teamBudget, routes: routeMap() });
      },
    });
    keys(req, res, next);
  });
  // GET /admin/usage: reports over the state's usage records.
  router.use(createAdminUsageRouter({ usage: () => policies.state()?.usage, logger }));
  return router;
}

export type RouterServer = ReturnType<typeof createServer>;
