import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { RedisStateConfig } from '../state-schema.js';

/** PEM text starts with its armour line; anything else in a PEM field is a file to read. */
const isPem = (value: string) => value.trimStart().startsWith('-----BEGIN');

/**
 * `state.redis.tls` with every PEM field as text: a field holding a file path (relative to
 * the config file's folder) is replaced by the file's content. Throws when a named file cannot
 * be read: a TLS setting that points nowhere is a start-up error, not a Redis outage.
 */
export function resolveRedisTls(config: RedisStateConfig, baseDir: string): RedisStateConfig {
  const tls = config.tls;
  if (typeof tls !== 'object') return config;
  const read = (field: 'ca' | 'cert' | 'key'): string | undefined => {
    const value = tls[field];
    if (value === undefined || isPem(value)) return value;
    const file = path.resolve(baseDir, value);
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`state.redis.tls.${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
  };
  const ca = read('ca');
  const cert = read('cert');
  const key = read('key');
  return { ...config, tls: { ...tls, ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}) } };
}
