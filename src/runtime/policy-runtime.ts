/**
 * What the policies need at run time, beside the routing runtime: the state backend (keys,
 * limits, usage), the key service, the authenticator (legacy keys, virtual keys, JWT), the
 * price book and the limits policy. Opened once by `start()` (async: the state backend, the
 * key secret, the first sync of config keys); a config reload swaps the JWT verifier and the
 * price book (built first, so a bad jwksFile or price file rejects the reload) and re-syncs
 * the config keys, and keeps the same state backend (changing `state` needs a restart).
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { loadEncoder } from '../accounting/encoders.js';
import { createPriceBook, loadPriceTable, type PriceBook } from '../accounting/prices.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { RouterConfig } from '../config/schema.js';
import { createAuthenticator, type Authenticator } from '../identity/authenticator.js';
import { createJwtVerifier, type JwtVerifier } from '../identity/jwt.js';
import { resolveKeySecret } from '../identity/key-secret.js';
import { KeyService } from '../identity/key-service.js';
import type { Metrics } from '../observability/metrics.js';
import { createUsageMetrics, stateSnapshotOf } from '../observability/usage-metrics.js';
import { createBudgetNotifier } from '../policies/budget-webhook.js';
import { createLimitsPolicy, type LimitsPolicy } from '../policies/limits-policy.js';
import { createRequestMeter, type RequestMeter } from '../policies/request-meter.js';
import { createStateBackend, type ObservableStateBackend } from '../state/index.js';
import type { Budget } from '../state/types.js';

/** Margin on top of the longest request before a reservation of a crashed instance expires. */
const RESERVATION_MARGIN_MS = 60_000;
/** Delay before a config-key sync that failed (Redis down at start) is tried again. */
const SYNC_RETRY_MS = 5_000;

/**
 * Whether the config turns client auth on: legacy keys, virtual keys, JWT, or `requireKeys`.
 * Without any, /v1 is open (loopback only) and callers are anonymous.
 */
export function clientAuthConfigured(config: RouterConfig): boolean {
  const a = config.auth;
  return a.keys.length > 0 || a.virtualKeys.length > 0 || a.jwt !== undefined || a.requireKeys;
}

/**
 * Whether some limit in the config counts tokens (a tpm, or a budget priced at the worst
 * case): then prompts are counted on the request path, and the tokenizer is worth loading at
 * start rather than on the first such request.
 */
export function configCountsTokens(config: RouterConfig): boolean {
  const limited = (l: { tpm?: number } | undefined) => l?.tpm !== undefined;
  return (
    Object.values(config.routes).some((r) => limited(r.limits?.perKey) || limited(r.limits?.global)) ||
    Object.keys(config.budgets.teams).length > 0 ||
    config.auth.virtualKeys.some((k) => limited(k.limits) || k.budget !== undefined) ||
    Object.values(config.auth.jwt?.tiers ?? {}).some((t) => t.tpm !== undefined || t.budget !== undefined)
  );
}

/** The pieces of a config built before it is applied: building them is what may fail. */
interface Prepared {
  loaded: LoadedConfig;
  prices: PriceBook;
  jwt: JwtVerifier | undefined;
  jwtKey: string;
}

const own = <T>(record: Record<string, T>, key: string): T | undefined => (Object.hasOwn(record, key) ? record[key] : undefined);

export interface PolicyRuntimeDeps {
  logger: Logger;
  metrics: Metrics;
  /** Reads the config in force (the routing runtime's). */
  config: () => RouterConfig;
  fetch?: typeof fetch;
}

export function createPolicyRuntime(initial: LoadedConfig, deps: PolicyRuntimeDeps) {
  const { logger, metrics } = deps;
  let current: Prepared | undefined;
  let state: ObservableStateBackend | undefined;
  let keys: KeyService | undefined;
  let authenticator: Authenticator | undefined;
  let limits: LimitsPolicy | undefined;
  let started: Promise<void> | undefined;
  let syncing: Promise<void> = Promise.resolve();
  let syncRetry: NodeJS.Timeout | undefined;
  let syncFailing = false;
  let closed = false;
  /** What the running backend was opened with, to tell a reload that changes it (restart needed). */
  let openedWith: string | undefined;

  const jwtKeyOf = (loaded: LoadedConfig) => JSON.stringify([loaded.config.auth.jwt ?? null, loaded.baseDir]);

  /** Builds what a config needs; throws (a start-up error, or a rejected reload) when it cannot. */
  function prepare(loaded: LoadedConfig): Prepared {
    const pricing = loaded.config.pricing;
    const prices = createPriceBook({ table: loadPriceTable(pricing.file, loaded.baseDir), overrides: pricing.overrides });
    const jwtKey = jwtKeyOf(loaded);
    let jwt = current?.jwtKey === jwtKey ? current.jwt : undefined;
    const cfg = loaded.config.auth.jwt;
    if (cfg && !jwt) {
      jwt = createJwtVerifier(cfg, {
        baseDir: loaded.baseDir,
        onKeysError: (err) => logger.warn({ err: err.message }, 'JWT signing keys could not be reloaded; the last good ones stay in force'),
      });
    }
    return { loaded, prices, jwt, jwtKey };
  }

  const notify = createBudgetNotifier({
    url: () => deps.config().budgets.webhookUrl,
    logger,
    counter: metrics.budgetSoftThresholds,
    fetch: deps.fetch,
  });

  /** Longest a request can hold a reservation: the longest route deadline or stream, plus a margin. */
  const reservationTtlMs = () => {
    const routes = Object.values(deps.config().routes);
    return Math.max(0, ...routes.map((r) => Math.max(r.timeoutMs, r.maxStreamMs))) + RESERVATION_MARGIN_MS;
  };

  function syncConfigKeys(loaded: LoadedConfig): Promise<void> {
    clearTimeout(syncRetry);
    const service = keys;
    if (!service) return Promise.resolve();
    const run = service.syncConfigKeys(loaded.config.auth.virtualKeys).then(
      (report) => {
        syncFailing = false;
        for (const w of report.warnings) logger.warn({}, w);
        if (report.created.length || report.updated.length || report.removed.length) {
          logger.info({ created: report.created, updated: report.updated, removed: report.removed, unchanged: report.unchanged.length }, 'config keys synced into the key store');
        }
      },
      (err: unknown) => {
        // Once per outage at error; the retries every few seconds at debug.
        const level = syncFailing ? 'debug' : 'error';
        syncFailing = true;
        logger[level]({ err: (err as Error).message, retryInMs: SYNC_RETRY_MS }, 'config keys could not be synced into the key store; retrying');
        if (!closed) syncRetry = setTimeout(() => void syncConfigKeys(currentLoaded()), SYNC_RETRY_MS).unref();
      },
    );
    syncing = run;
    return run;
  }

  const currentLoaded = () => current?.loaded ?? initial;

  // Spend, tokens per key, refusals, and the state backend's health read at each scrape.
  const usageMetrics = createUsageMetrics(metrics.registry, { state: () => (state ? stateSnapshotOf(state) : undefined) });

  const meter: RequestMeter = createRequestMeter({
    limits: () => limits,
    prices: () => (current ?? (current = prepare(initial))).prices,
    providerKind: (id) => own(deps.config().providers, id)?.kind,
    teamBudget: (team): Budget | undefined => own(deps.config().budgets.teams, team),
    usage: () => state?.usage,
    limiter: () => state?.limiter,
    metrics: usageMetrics,
    logger,
  });

  return {
    /**
     * Opens the state backend, the key secret and the key service, and syncs the config keys
     * (once; later calls return the same promise). Rejects for what must stop the start: a
     * corrupt keys file, an unusable key secret, a bad jwksFile or price table.
     */
    start(): Promise<void> {
      started ??= (async () => {
        current = prepare(currentLoaded());
        const loaded = current.loaded;
        const stateCfg = loaded.config.state;
        openedWith = JSON.stringify([stateCfg, loaded.baseDir]);
        state = await createStateBackend(stateCfg, { baseDir: loaded.baseDir, logger: logger.child({ component: 'state' }) });
        try {
          const dataDir = path.resolve(loaded.baseDir, stateCfg.dataDir);
          const serverSecret = resolveKeySecret({ configured: loaded.config.auth.keySecret, file: path.join(dataDir, 'key-secret') });
          keys = new KeyService({ store: state.keys, serverSecret });
        } catch (err) {
          await state.close().catch(() => {});
          state = undefined;
          throw err;
        }
        authenticator = createAuthenticator({
          staticKeys: () => deps.config().auth.keys,
          keyService: keys,
          jwt: () => current?.jwt,
        });
        limits = createLimitsPolicy({
          limiter: state.limiter,
          get reservationTtlMs() {
            return reservationTtlMs();
          },
          onSoftThreshold: (info) => void notify(info),
        });
        logger.info({ backend: state.kind, dataDir: path.resolve(loaded.baseDir, stateCfg.dataDir) }, 'state backend open');
        // o200k is the encoding of most models (and of any model it does not know).
        if (configCountsTokens(loaded.config)) setImmediate(() => void loadEncoder('o200k_base').catch((err: unknown) => logger.warn({ err: String(err) }, 'tokenizer failed to load')));
        await syncConfigKeys(loaded);
      })();
      return started;
    },

    /** Builds what `next` needs without applying it; throws when it cannot (the reload is then rejected). */
    prepare,

    /** Applies a prepared config: new JWT verifier and prices, config keys synced again (in the background). */
    commit(prepared: Prepared): void {
      const before = currentLoaded();
      current = prepared;
      const next = prepared.loaded;
      if (openedWith !== undefined && openedWith !== JSON.stringify([next.config.state, next.baseDir])) {
        logger.warn({ field: 'state' }, 'state settings take effect at the next restart; the running backend stays');
      }
      if (before.config.auth.keySecret !== next.config.auth.keySecret) {
        logger.warn({ field: 'auth.keySecret' }, 'auth.keySecret takes effect at the next restart (a new secret invalidates every stored key hash)');
      }
      void syncConfigKeys(next);
    },

    /** The sync of config keys started by the last start or reload (tests wait for it). */
    synced: (): Promise<void> => syncing,
    /** No client auth configured: /v1 is open (loopback only). */
    open: (): boolean => !clientAuthConfigured(deps.config()),
    authenticator: (): Authenticator | undefined => authenticator,
    keyService: (): KeyService | undefined => keys,
    state: (): ObservableStateBackend | undefined => state,
    limits: (): LimitsPolicy | undefined => limits,
    prices: (): PriceBook => (current ?? (current = prepare(initial))).prices,
    meter,

    /** Flushes the usage ledger and closes the state backend (clean shutdown loses no record). */
    async close(): Promise<void> {
      closed = true;
      clearTimeout(syncRetry);
      await started?.catch(() => {});
      keys?.close();
      const s = state;
      state = undefined;
      if (s) {
        try {
          await s.usage.flush();
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'usage records could not be flushed');
        }
        await s.close();
      }
    },
  };
}

export type PolicyRuntime = ReturnType<typeof createPolicyRuntime>;
