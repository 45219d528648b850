import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load-config.js';
import type { Provider } from '../core/provider.js';
import type { Metrics } from '../observability/metrics.js';
import { createDispatcher, type Dispatcher } from '../routing/dispatcher.js';
import type { TargetGate } from '../routing/target-gate.js';
import type { ProviderConfig } from '../config/schema.js';
import { loadTokenizer } from '../routing/fit.js';
import { createTargetConcurrency, type TargetConcurrency } from '../routing/target-concurrency.js';

export type ProviderBuilder = (id: string, config: ProviderConfig, ctx: { logger: Logger; baseDir: string }) => Provider;

export interface RuntimeDeps {
  buildProvider: ProviderBuilder;
  logger: Logger;
  metrics: Metrics;
  /** Builds the health gate for a config; absent means every target is always admitted. */
  buildGate?: (loaded: LoadedConfig, providers: ReadonlyMap<string, Provider>) => TargetGate & { close?(): void };
  random?: () => number;
}

interface State {
  loaded: LoadedConfig;
  providers: Map<string, Provider>;
  /** JSON of each provider's config, to keep a provider whose config did not change across reloads. */
  fingerprints: Map<string, string>;
  disabled: Map<string, string>;
  gate?: TargetGate & { close?(): void };
  dispatcher: Dispatcher;
}

/**
 * The live config with its providers and dispatcher. A reload builds the new state beside the
 * old one and swaps it in one assignment, so a request sees one config from start to end.
 */
export function createRuntime(initial: LoadedConfig, deps: RuntimeDeps) {
  let concurrency: TargetConcurrency | undefined;
  const build = (loaded: LoadedConfig, previous?: State): State => {
    const providers = new Map<string, Provider>();
    const fingerprints = new Map<string, string>();
    const disabled = new Map(loaded.disabled);
    for (const [id, cfg] of Object.entries(loaded.config.providers)) {
      deps.metrics.providerUp.set({ provider: id, kind: cfg.kind }, disabled.has(id) ? 0 : 1);
      if (disabled.has(id)) {
        deps.logger.warn({ provider: id, kind: cfg.kind, reason: disabled.get(id) }, 'provider disabled');
        continue;
      }
      const fp = JSON.stringify([cfg, loaded.baseDir]);
      const reuse = previous?.fingerprints.get(id) === fp ? previous.providers.get(id) : undefined;
      try {
        providers.set(id, reuse ?? deps.buildProvider(id, cfg, { logger: deps.logger.child({ provider: id }), baseDir: loaded.baseDir }));
        fingerprints.set(id, fp);
      } catch (err) {
        disabled.set(id, `failed to start: ${(err as Error).message}`);
        deps.metrics.providerUp.set({ provider: id, kind: cfg.kind }, 0);
        deps.logger.error({ provider: id, err: (err as Error).message }, 'provider failed to start');
      }
    }
    // Load the tokenizer now, off the request path, when some target may need a token count.
    const counts = Object.values(loaded.config.routes).some((r) =>
      r.targets.some((t) => {
        const caps = providers.get(t.provider)?.capabilities(t.model);
        return caps?.contextLength !== undefined && !caps.compactsHistory;
      }),
    );
    if (counts) setImmediate(() => void loadTokenizer().catch((err: unknown) => deps.logger.warn({ err: String(err) }, 'tokenizer failed to load')));
    const gate = deps.buildGate?.(loaded, providers);
    // One set of concurrency slots for the process: requests in flight keep their slots across a reload.
    if (concurrency) concurrency.configure(loaded.config.routes);
    else concurrency = createTargetConcurrency({ routes: loaded.config.routes, metrics: deps.metrics });
    const dispatcher = createDispatcher({ routes: loaded.config.routes, providers, disabled, gate, metrics: deps.metrics, random: deps.random, concurrency });
    return { loaded, providers, fingerprints, disabled, gate, dispatcher };
  };

  let state = build(initial);

  return {
    config: () => state.loaded.config,
    dispatcher: () => state.dispatcher,
    providers: (): ReadonlyMap<string, Provider> => state.providers,
    disabled: (): ReadonlyMap<string, string> => state.disabled,

    /** Swaps in a new validated config; providers whose config did not change are kept. */
    reload(next: LoadedConfig): void {
      const old = state;
      state = build(next, old);
      old.gate?.close?.();
      for (const [id, p] of old.providers) {
        // Let requests in flight on a replaced provider finish before closing it.
        if (state.providers.get(id) !== p) setTimeout(() => void p.close().catch(() => {}), 30_000).unref();
      }
    },

    async close(): Promise<void> {
      state.gate?.close?.();
      await Promise.allSettled([...state.providers.values()].map((p) => p.close()));
    },
  };
}

export type Runtime = ReturnType<typeof createRuntime>;
