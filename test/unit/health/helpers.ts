import { pino } from 'pino';
import { Registry } from 'prom-client';
import { routeSchema, type RouteConfig } from '../../../src/config/schema.js';
import type { HealthReport, Provider, Target } from '../../../src/core/provider.js';
import { ProviderError, type ProviderErrorKind } from '../../../src/core/provider-error.js';
import { createHealthGate, type HealthGateDeps } from '../../../src/health/health-gate.js';
import { createHealthMetrics } from '../../../src/health/health-metrics.js';
import type { CallOutcome } from '../../../src/routing/target-gate.js';
import { FakeProvider, type FakeStep } from '../../fixtures/fake-provider.js';

/** A FakeProvider whose health probe can also hang, and which counts probes. */
export class ProbedProvider extends FakeProvider {
  probes = 0;
  healthHangs = false;

  constructor(id: string, fallback?: FakeStep) {
    super(id, fallback);
  }

  override async health(): Promise<HealthReport> {
    this.probes++;
    if (this.healthHangs) return new Promise(() => {});
    return super.health();
  }
}

export const A: Target = { provider: 'a', model: 'm' };
export const B: Target = { provider: 'b', model: 'm' };

/** Thresholds small enough to reason about in a test. */
export const ROUTE = {
  targets: [A, B],
  breaker: { errorPercent: 50, minRequests: 4, windowMs: 10_000, openMs: 1_000 },
  healthCheck: { intervalMs: 500, timeoutMs: 200 },
  shadow: { sampleRate: 0.5, promoteAfter: 3, maxConcurrent: 2, timeoutMs: 1_000 },
};

export const ok = (ms = 10): CallOutcome => ({ ok: true, ms });
export const fail = (kind: ProviderErrorKind, ms = 10): CallOutcome => ({ ok: false, ms, error: new ProviderError({ kind, provider: 'a', message: `a: scripted ${kind}` }) });

/** A gate over providers a and b on route "chat", with real prom metrics on their own registry. */
export function setup(opts: { route?: Record<string, unknown>; routes?: Record<string, RouteConfig>; random?: () => number; a?: ProbedProvider; b?: ProbedProvider } & Partial<HealthGateDeps> = {}) {
  const a = opts.a ?? new ProbedProvider('a');
  const b = opts.b ?? new ProbedProvider('b');
  const registry = new Registry();
  const metrics = { ...createHealthMetrics(registry), tokens: tokenCounter() };
  const providers = new Map<string, Provider>([['a', a], ['b', b]]);
  const routes = opts.routes ?? { chat: routeSchema.parse({ ...ROUTE, ...opts.route }) };
  const gate = createHealthGate({
    routes,
    providers,
    logger: opts.logger ?? pino({ level: 'silent' }),
    metrics,
    now: () => Date.now(),
    random: opts.random ?? (() => 0),
    onShadow: opts.onShadow,
    previous: opts.previous,
    fleet: opts.fleet,
  });
  return { gate, a, b, registry, metrics, providers, routes };
}

/** Shaped like the router's llm_router_tokens_total (which the router passes in); remembers what it was given. */
function tokenCounter() {
  const seen: Array<{ labels: Record<string, string>; value: number }> = [];
  return { seen, inc: (labels: Record<string, string>, value: number) => void seen.push({ labels, value }) };
}

/** A metric's value for the given labels (0 when the series does not exist). */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const values = (metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>;
  const hit = values.find((v) => !v.metricName?.endsWith('_bucket') && Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return hit?.value ?? 0;
}

/** Lets opossum's promise chains and our background calls settle under fake timers. */
export const flush = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};
