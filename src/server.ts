import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { LoadedConfig } from './config/load-config.js';
import { createApp } from './edge/app.js';
import { createAdminRouter } from './health/admin-router.js';
import { createHealthGate, type HealthGate } from './health/health-gate.js';
import type { Metrics } from './observability/metrics.js';
import { createRuntime, type RuntimeDeps } from './runtime/runtime.js';

export interface ServerDeps {
  logger: Logger;
  metrics: Metrics;
  buildProvider: RuntimeDeps['buildProvider'];
  random?: () => number;
}

/** Wires config, providers, runtime and app; used by main.ts and by integration tests. */
export function createServer(loaded: LoadedConfig, deps: ServerDeps) {
  // The gate in force; each config reload builds a new one that inherits the old one's states.
  let gate: HealthGate | undefined;
  const runtime = createRuntime(loaded, {
    buildProvider: deps.buildProvider,
    logger: deps.logger,
    metrics: deps.metrics,
    random: deps.random,
    buildGate: (next, providers) =>
      (gate = createHealthGate({
        routes: next.config.routes,
        providers,
        logger: deps.logger,
        metrics: { ...deps.metrics.health, tokens: deps.metrics.tokens },
        random: deps.random,
        previous: gate,
      })),
  });
  const app = createApp({ runtime, metrics: deps.metrics, logger: deps.logger, admin: createAdminRouter(() => gate) });
  let http: Server | undefined;
  return {
    app,
    runtime,
    listen(port: number, host: string): Promise<void> {
      return new Promise((resolve, reject) => {
        http = app.listen(port, host);
        // Streams can be long; the route's own deadlines bound requests, not Node's defaults.
        http.requestTimeout = 0;
        http.keepAliveTimeout = 65_000;
        http.once('listening', () => resolve());
        http.once('error', reject);
      });
    },
    port: (): number => (http?.address() as AddressInfo | null)?.port ?? 0,
    async close(): Promise<void> {
      await new Promise<void>((resolve) => {
        if (!http) return resolve();
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await runtime.close();
    },
  };
}
