import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

/** Members only private or symmetric keys have: a file holding them is a leak waiting to happen, so it is refused. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const;

/** Parses and checks a JWKS document; throws a message naming what is wrong (never key material). */
export function parseJwks(text: string, where: string): JSONWebKeySet {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${where}: not valid JSON`);
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error(`${where}: expected a JSON Web Key Set ({"keys": [...]})`);
  keys.forEach((k: unknown, i) => {
    if (!k || typeof k !== 'object') throw new Error(`${where}: keys[${i}] is not an object`);
    const jwk = k as Record<string, unknown>;
    const leaked = PRIVATE_MEMBERS.find((m) => m in jwk);
    if (leaked) throw new Error(`${where}: keys[${i}] holds private or symmetric key material ("${leaked}"); publish public keys only (HS256 uses auth.jwt.secret)`);
  });
  return doc as JSONWebKeySet;
}

/** Tuning of {@link JwksFile}; the defaults suit production. */
export interface JwksFileOptions {
  /** Least time between two looks at the file's mtime (default 1000 ms). */
  statIntervalMs?: number;
  /** Least time between two re-reads caused by unknown kids (default 1000 ms): forged kids cannot make us spin on the disk. */
  unknownKidCooldownMs?: number;
  /** A reload that failed (the last good keys stay in force). */
  onError?: (err: Error) => void;
  now?: () => number;
}

/**
 * A JWKS file as a jose key resolver. Read at start (a bad file is a start-up error); after
 * that it is re-read when its mtime or size changes (looked at most once a second, on use) or
 * when a token names a kid it lacks, so publishing a new signing key needs no restart. A file
 * that stops parsing keeps the last good keys in force.
 */
export class JwksFile {
  private keys: ReturnType<typeof createLocalJWKSet>;
  private text: string;
  private version: string;
  private lastStat = 0;
  private lastForced = -Infinity;
  private pending: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly file: string,
    private readonly opts: JwksFileOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    // Stat before reading: a change racing the read is then seen as a change on the next look.
    this.version = versionOf(statSync(file));
    this.text = readFileSync(file, 'utf8');
    this.keys = createLocalJWKSet(parseJwks(this.text, file));
    this.lastStat = this.now();
  }

  /** The resolver to hand to jwtVerify. */
  readonly resolve: JWTVerifyGetKey = async (header, token) => {
    if (this.now() - this.lastStat >= (this.opts.statIntervalMs ?? 1_000)) await this.reload(false);
    try {
      return await this.keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || this.now() - this.lastForced < (this.opts.unknownKidCooldownMs ?? 1_000)) throw err;
      this.lastForced = this.now();
      await this.reload(true);
      return this.keys(header, token);
    }
  };

  /** Looks at the file again (`force`: reads it even if its mtime did not move); concurrent calls share one read. */
  reload(force: boolean): Promise<void> {
    this.pending ??= this.doReload(force).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async doReload(force: boolean): Promise<void> {
    this.lastStat = this.now();
    try {
      const version = versionOf(await stat(this.file));
      if (!force && version === this.version) return;
      this.version = version;
      const text = await readFile(this.file, 'utf8');
      if (text === this.text) return;
      const keys = createLocalJWKSet(parseJwks(text, this.file));
      this.text = text;
      this.keys = keys;
    } catch (err) {
      this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** What tells a changed file apart: a new inode (replaced by rename, as editors and k8s do), size or mtime. */
function versionOf(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}
