/** Starts the router: load config, build providers, listen, reload config on edits. */
import { parseStartOptions } from './cli-args.js';
import { ConfigError, loadConfigFile } from './config/load-config.js';
import { watchConfig } from './config/watch-config.js';
import { createLogger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import { TlsFileError } from './edge/tls.js';
import { authProblem, createServer } from './server.js';
import { createProvider } from '../providers/registry.js';


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
  if (authProblem(loaded.config, host)) {
    logger.fatal({ host }, 'refusing to listen beyond loopback without client auth: set auth.keys, auth.virtualKeys, auth.jwt or auth.requireKeys in the config, or bind to 127.0.0.1');
    process.exit(2);
  }

  const metrics = createMetrics({ defaultMetrics: true });
  const server = createServer(loaded, { logger, metrics, buildProvider: createProvider });
  try {
    await server.listen(port, host);
  } catch (err) {
    if (err instanceof TlsFileError) {
      logger.fatal({ err: err.message }, 'cannot start TLS');
      console.error(err.message);
      process.exit(2);
    }
    // A corrupt keys file, an unusable key secret, a bad jwksFile or price table: the operator's to fix.
    logger.fatal({ err: (err as Error).message }, 'cannot start');
    console.error((err as Error).message);
    await server.close().catch(() => {});
    process.exit(2);
  }
  const hostPart = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const adminListen = loaded.config.server.adminListen;
  logger.info(
    {
      url: `${server.tls() ? 'https' : 'http'}://${hostPart(host)}:${server.port()}`,
      ...(adminListen ? { adminUrl: `http://${hostPart(adminListen.host)}:${server.adminPort()}` } : {}),
      routes: Object.keys(loaded.config.routes),
    },
    'llm-router listening',
  );

  const watcher = watchConfig(opts.configFile, {
    // Applied, or refused when it would switch client auth off (server.reload logs and counts both).
    onReload: (next) => server.reload(next),
    onRejected: (err) => {
      metrics.configReloads.inc({ result: 'rejected' });
      logger.error({ problems: err.problems }, 'config edit rejected; the last good config stays in force');
    },
  }, 250, loaded);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    const drainMs = server.runtime.config().server.drainMs;
    logger.info({ signal, drainMs }, 'shutting down');
    watcher.close();
    // Never hang: past the drain, its grace and the providers' close, exit anyway.
    setTimeout(() => {
      logger.error('shutdown did not finish in time');
      process.exit(1);
    }, drainMs + 15_000).unref();
    const clean = await server.shutdown({ drainMs });
    logger.info({ clean }, 'stopped');
    // 0 only for a clean drain: everything in flight finished within drainMs.
    process.exit(clean ? 0 : 1);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
