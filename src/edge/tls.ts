/**
 * TLS in the router itself (`server.tls`): the certificate and key files, checked at start, and
 * swapped into the running server when either file changes (a renewed certificate), keeping the
 * old pair when the new one cannot be used.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { RouterConfig } from '../config/schema.js';

export type TlsConfig = NonNullable<RouterConfig['server']['tls']>;

/** A TLS file problem, with the file and the fix in the message. */
export class TlsFileError extends Error {
  override name = 'TlsFileError';
}

export interface TlsMaterial {
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
  minVersion: TlsConfig['minVersion'];
  /** Subject, expiry and fingerprint, for logs. */
  info: { subject: string; validTo: string; fingerprint256: string; expired: boolean };
}

function read(file: string, field: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsFileError(`server.tls.${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * Reads and checks the pair: both files readable, the key not readable by group or others,
 * the certificate parseable and matching the key. Paths are relative to the config's folder.
 */
export function readTlsMaterial(cfg: TlsConfig, baseDir: string): TlsMaterial {
  const certPath = path.resolve(baseDir, cfg.cert);
  const keyPath = path.resolve(baseDir, cfg.key);
  if (process.platform !== 'win32') {
    let mode: number;
    try {
      mode = statSync(keyPath).mode;
    } catch (err) {
      throw new TlsFileError(`server.tls.key: cannot read ${keyPath} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (mode & 0o077) {
      throw new TlsFileError(`server.tls.key: ${keyPath} is readable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); a private key must be readable by its owner only: chmod 600 ${keyPath}`);
    }
  }
  const cert = read(certPath, 'cert');
  const key = read(keyPath, 'key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsFileError(`server.tls.cert: ${certPath} is not a PEM certificate (${(err as Error).message})`);
  }
  try {
    createSecureContext({ cert, key, minVersion: cfg.minVersion });
  } catch (err) {
    throw new TlsFileError(`server.tls: ${certPath} and ${keyPath} are not a usable certificate and key pair (${(err as Error).message})`);
  }
  return {
    certPath,
    keyPath,
    cert,
    key,
    minVersion: cfg.minVersion,
    info: { subject: x509.subject.replace(/\n/g, ', '), validTo: x509.validTo, fingerprint256: x509.fingerprint256, expired: Date.parse(x509.validTo) < Date.now() },
  };
}

export function secureOptions(m: TlsMaterial): SecureContextOptions {
  return { cert: m.cert, key: m.key, minVersion: m.minVersion };
}

const same = (a: TlsMaterial, b: TlsMaterial) => a.cert.equals(b.cert) && a.key.equals(b.key) && a.minVersion === b.minVersion;

export interface TlsWatcher {
  /** The config's tls section changed (files or minVersion): load it now, and watch its files. */
  update(cfg: TlsConfig, baseDir: string): void;
  close(): void;
}

/**
 * Watches the folders of the certificate and key (so a file replaced by rename, or a Kubernetes
 * secret's symlink swap, is seen) and installs a changed pair with `setSecureContext` after
 * edits settle. A pair that fails the checks is logged and the previous one stays in use.
 */
export function watchTls(server: { setSecureContext(o: SecureContextOptions): void }, initial: TlsMaterial, cfg: TlsConfig, baseDir: string, logger: Logger, debounceMs = 200): TlsWatcher {
  let current = initial;
  let target = { cfg, baseDir };
  let watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;

  const apply = (why: string) => {
    let next: TlsMaterial;
    try {
      next = readTlsMaterial(target.cfg, target.baseDir);
    } catch (err) {
      logger.error({ err: (err as Error).message }, `TLS ${why}, but the new files cannot be used; the previous certificate stays in use`);
      return;
    }
    if (same(next, current)) return;
    try {
      server.setSecureContext(secureOptions(next));
    } catch (err) {
      logger.error({ err: (err as Error).message }, `TLS ${why}, but the new pair was refused; the previous certificate stays in use`);
      return;
    }
    current = next;
    logger.info({ cert: next.certPath, subject: next.info.subject, validTo: next.info.validTo, fingerprint256: next.info.fingerprint256 }, 'TLS certificate reloaded');
    if (next.info.expired) logger.warn({ cert: next.certPath, validTo: next.info.validTo }, 'TLS certificate has expired');
  };

  const rewatch = () => {
    for (const w of watchers) w.close();
    watchers = [];
    const dirs = new Set([path.dirname(path.resolve(target.baseDir, target.cfg.cert)), path.dirname(path.resolve(target.baseDir, target.cfg.key))]);
    for (const dir of dirs) {
      try {
        const w = watch(dir, () => {
          clearTimeout(timer);
          timer = setTimeout(() => apply('files changed'), debounceMs);
        });
        w.on('error', (err) => logger.warn({ dir, err: err.message }, 'TLS file watch failed; certificate changes are not picked up'));
        w.unref();
        watchers.push(w);
      } catch (err) {
        logger.warn({ dir, err: (err as Error).message }, 'cannot watch the TLS files; certificate changes are not picked up');
      }
    }
  };
  rewatch();

  return {
    update(cfg, baseDir) {
      target = { cfg, baseDir };
      rewatch();
      apply('config changed');
    },
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
      watchers = [];
    },
  };
}
