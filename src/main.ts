/** Starts the router: load config, build providers, listen, reload config on edits. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { isLoopback, parseStartOptions } from './cli-args.js';
import { ConfigError, loadConfigFile } from './config/load-config.js';
import { watchConfig } from './config/watch-config.js';
import { createLogger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import { createServer } from './server.js';
import { ensureTinyModel } from '../scripts/gguf/ensure-tiny-model.js';
import { createProvider } from '../providers/registry.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function main(): Promise<void> {
  const opts = parseStartOptions(process.argv.slice(2), process.env);
  let loaded;
  try {
    loaded = loadConfigFile(opts.configFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`Config ${opts.configFile} is invalid:\n${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(process.env.LOG_LEVEL ?? loaded.config.logging.level);
  for (const w of loaded.warnings) logger.warn(w);
  const host = opts.host ?? loaded.config.server.host;
  const port = opts.port ?? loaded.config.server.port;
  if (!loaded.config.auth.keys.length && !isLoopback(host)) {
    logger.fatal({ host }, 'refusing to listen beyond loopback without auth.keys: set client keys in the config or bind to 127.0.0.1');
    process.exit(2);
  }
  // The built-in offline model is generated, never committed: make it on first start.
  const usesLocal = Object.values(loaded.config.providers).some((p) => p.kind === 'llama-cpp');
  if (usesLocal) await ensureTinyModel(path.join(repoRoot, 'models/tiny.gguf'));

  const metrics = createMetrics({ defaultMetrics: true });
  const server = createServer(loaded, { logger, metrics, buildProvider: createProvider });
  await server.listen(port, host);
  logger.info({ url: `http://${host.includes(':') ? `[${host}]` : host}:${server.port()}`, routes: Object.keys(loaded.config.routes) }, 'llm-router listening');

  const watcher = watchConfig(opts.configFile, {
    onReload: (next) => {
      server.runtime.reload(next);
      metrics.configReloads.inc({ result: 'ok' });
      logger.info({ routes: Object.keys(next.config.routes), disabled: Object.fromEntries(next.disabled) }, 'config reloaded');
    },
    onRejected: (err) => {
      metrics.configReloads.inc({ result: 'rejected' });
      logger.error({ problems: err.problems }, 'config edit rejected; the last good config stays in force');
    },
  }, 250, loaded);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    watcher.close();
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
