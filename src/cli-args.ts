import { parseArgs } from 'node:util';

export interface StartOptions {
  configFile: string;
  host?: string;
  port?: number;
}

/** `--config FILE` / ROUTER_CONFIG, `--port` / PORT, `--host` / HOST; flags win over env. */
export function parseStartOptions(argv: string[], env: NodeJS.ProcessEnv): StartOptions {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, port: { type: 'string', short: 'p' }, host: { type: 'string' } },
    strict: true,
  });
  const portText = values.port ?? env.PORT;
  const port = portText === undefined || portText === '' ? undefined : Number(portText);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new Error(`invalid port "${portText}"`);
  return { configFile: values.config ?? env.ROUTER_CONFIG ?? 'config/router.yaml', host: values.host ?? (env.HOST || undefined), port };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}
