import type { Budget, KeyRecord, KeyStore, RateLimits } from '../state/types.js';
import { AuthCache } from './auth-cache.js';
import { configKeyRecord, sameRecord, type ConfigSyncReport } from './config-keys.js';
import type { VirtualKeyConfig } from './identity-schema.js';
import { generateKeySecret, hashBytesEqual, hashKeySecret, newKeyId, visiblePrefix } from './key-secret.js';
import { secretLive, toKeyView, type KeyView } from './key-view.js';
import type { Identity } from './types.js';

/** Longest rotation grace: 30 days. */
export const MAX_GRACE_SECONDS = 30 * 24 * 3600;
/** Grace of a rotation that names none: one hour, time enough to roll a deployment. */
export const DEFAULT_GRACE_SECONDS = 3600;
/** Longest secret looked up at all: anything longer is no key of ours, and hashing it would be wasted work. */
const MAX_SECRET_LENGTH = 1024;

/** Why a management call was refused; the admin router maps `code` to the HTTP status. */
export class KeyServiceError extends Error {
  constructor(
    readonly code: 'not_found' | 'read_only' | 'revoked' | 'invalid',
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'KeyServiceError';
  }
}

/** Fields of a new key (the id and secret are generated). */
export type CreateKeyInput = Pick<KeyRecord, 'name' | 'team' | 'routes' | 'limits' | 'budget' | 'metadata' | 'expiresAt'>;

/** A patch: an absent field is left alone, `null` removes it (e.g. `routes: null`: every route again). */
export interface PatchKeyInput {
  name?: string;
  team?: string | null;
  routes?: string[] | null;
  limits?: RateLimits | null;
  budget?: Budget | null;
  metadata?: Record<string, string> | null;
  expiresAt?: string | null;
}

/** A key and its secret, which exists nowhere else: shown once, never stored. */
export interface IssuedKey {
  key: KeyView;
  secret: string;
}

/** Why `authenticate` refused a secret. */
export interface KeyAuthFailure {
  error: 'unknown' | 'revoked' | 'expired';
}

/** Dependencies and tuning of a {@link KeyService}. */
export interface KeyServiceOptions {
  store: KeyStore;
  /** HMAC key of stored hashes (see resolveKeySecret); the same on every instance of one store. */
  serverSecret: string;
  /** Clock in ms (tests inject one). */
  now?: () => number;
  /** Longest life of a cached positive lookup, the safety net behind change notices. Default 5000. */
  cacheTtlMs?: number;
  /** Most cached lookups. Default 10000. */
  cacheMaxEntries?: number;
}

/** A store that can delete: used for config keys removed from the config when the backend offers it. */
type DeletingStore = KeyStore & { delete?: (id: string) => Promise<void> };

/**
 * What `judge` needs of a record, derived once when the record is read from the store (and
 * cached with it) rather than on every request: only the checks against the clock are left to
 * do per request. A new record (a change notice, the TTL) means a new JudgedKey; none is ever
 * changed in place.
 */
interface JudgedKey {
  readonly id: string;
  /**
   * Each secret's stored hash decoded from hex (exactly as hashesEqual decodes it) and when its
   * grace ends, in ms: Infinity when it has no end; NaN when the date does not parse, which
   * like secretLive's `Date.parse(…) > now` is never live.
   */
  readonly secrets: ReadonlyArray<{ readonly hash: Buffer; readonly endsAtMs: number }>;
  readonly revoked: boolean;
  /** The key's expiry in ms: Infinity without one; NaN (unparseable) never expires, as in keyStatus. */
  readonly expiresAtMs: number;
  /** The identity of every request with this key: built once and deeply frozen, since it is shared by them all. */
  readonly identity: Identity;
}

/**
 * Virtual keys: issuing, managing and checking them. Secrets are generated here, returned once,
 * and kept only as HMAC-SHA-256 hashes. Every change is a `put` on the shared store, whose
 * change notices drop this instance's cached lookups, so a revocation anywhere is honoured at
 * once everywhere.
 */
export class KeyService {
  private readonly store: KeyStore;
  private readonly serverSecret: string;
  private readonly now: () => number;
  private readonly cache: AuthCache<JudgedKey>;
  /** The presented hash decoded for the constant-time compare; reused because `judge` is synchronous. */
  private readonly presented = Buffer.alloc(32);
  private readonly unsubscribe: () => void;
  /** Syncs run one after another: a reload arriving during the start-up sync must not interleave with it. */
  private syncing: Promise<unknown> = Promise.resolve();

  constructor(opts: KeyServiceOptions) {
    this.store = opts.store;
    this.serverSecret = opts.serverSecret;
    this.now = opts.now ?? Date.now;
    this.cache = new AuthCache<JudgedKey>(opts.cacheTtlMs ?? 5_000, opts.cacheMaxEntries ?? 10_000, this.now);
    this.unsubscribe = this.store.onChange((id) => this.cache.invalidate(id));
  }

  /** Issues a key; the returned secret is the only copy. */
  async create(input: CreateKeyInput): Promise<IssuedKey> {
    const now = this.now();
    if (input.expiresAt !== undefined) this.futureTime(input.expiresAt, 'expiresAt', now);
    const id = newKeyId();
    const secret = generateKeySecret(id);
    const nowIso = new Date(now).toISOString();
    const record: KeyRecord = {
      id,
      name: input.name,
      ...withoutUndefined({ team: input.team, routes: input.routes, limits: input.limits, budget: input.budget, metadata: input.metadata }),
      createdAt: nowIso,
      ...(input.expiresAt !== undefined ? { expiresAt: new Date(input.expiresAt).toISOString() } : {}),
      secrets: [{ hash: hashKeySecret(this.serverSecret, secret), prefix: visiblePrefix(secret), createdAt: nowIso }],
      source: 'api',
    };
    await this.store.put(record);
    return { key: toKeyView(record, now), secret };
  }

  /** Every key (config and API, revoked ones included), oldest first. */
  async list(): Promise<KeyView[]> {
    const now = this.now();
    const records = await this.store.list();
    return records
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1))
      .map((r) => toKeyView(r, now));
  }

  /** One key, or undefined. */
  async get(id: string): Promise<KeyView | undefined> {
    const record = await this.record(id);
    return record && toKeyView(record, this.now());
  }

  /** Changes a key's settings (not its secret: see rotate). */
  async patch(id: string, patch: PatchKeyInput): Promise<KeyView> {
    const record = await this.mutable(id, 'changed');
    const now = this.now();
    const next: KeyRecord = { ...record };
    if (patch.name !== undefined) next.name = patch.name;
    const clearable = ['team', 'routes', 'limits', 'budget', 'metadata'] as const;
    for (const field of clearable) {
      const v = patch[field];
      if (v === null) delete next[field];
      else if (v !== undefined) (next as unknown as Record<string, unknown>)[field] = v;
    }
    // A past expiresAt is allowed here: it is how an operator ends a key on a date already gone.
    if (patch.expiresAt === null) delete next.expiresAt;
    else if (patch.expiresAt !== undefined) next.expiresAt = this.isoTime(patch.expiresAt, 'expiresAt');
    await this.store.put(next);
    return toKeyView(next, now);
  }

  /**
   * A new secret for a key. The old ones keep working for `graceSeconds` (default one hour, at
   * most 30 days) so deployments can roll over; 0 ends every old secret now (a leaked key).
   */
  async rotate(id: string, graceSeconds: number = DEFAULT_GRACE_SECONDS): Promise<IssuedKey> {
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_GRACE_SECONDS) {
      throw new KeyServiceError('invalid', `graceSeconds must be a whole number from 0 to ${MAX_GRACE_SECONDS} (30 days).`, 'graceSeconds');
    }
    const record = await this.mutable(id, 'rotated');
    const now = this.now();
    const nowIso = new Date(now).toISOString();
    const graceEnd = now + graceSeconds * 1000;
    const secret = generateKeySecret(id);
    // Every old secret ends by the new grace at the latest: a rotation never lengthens an older one's life.
    const old =
      graceSeconds === 0
        ? []
        : record.secrets
            .filter((s) => secretLive(s, now))
            .map((s) => ({ ...s, expiresAt: new Date(Math.min(graceEnd, s.expiresAt !== undefined ? Date.parse(s.expiresAt) : graceEnd)).toISOString() }));
    const next: KeyRecord = {
      ...record,
      secrets: [{ hash: hashKeySecret(this.serverSecret, secret), prefix: visiblePrefix(secret), createdAt: nowIso }, ...old],
    };
    await this.store.put(next);
    return { key: toKeyView(next, now), secret };
  }

  /** Ends a key at once, everywhere (idempotent: revoking a revoked key returns it unchanged). */
  async revoke(id: string): Promise<KeyView> {
    const record = await this.existing(id);
    if (record.source === 'config') throw readOnly(id, 'revoked');
    const now = this.now();
    if (record.revokedAt !== undefined) return toKeyView(record, now);
    const next: KeyRecord = { ...record, revokedAt: new Date(now).toISOString() };
    await this.store.put(next);
    return toKeyView(next, now);
  }

  /**
   * Who holds `secret`, or why it is refused. The hash finds the record; the stored hash is then
   * compared in constant time. A secret whose rotation grace has ended is `unknown` (it no longer
   * exists); revocation and expiry are named so the caller knows to get a new key. Throws
   * StateUnavailableError when the store cannot be reached (a 503, not a 401).
   */
  async authenticate(secret: string): Promise<Identity | KeyAuthFailure> {
    return this.check(secret);
  }

  /**
   * `authenticate`, but answered synchronously when no store lookup is needed (an impossible
   * secret, or a cached key whose checks pass), so the common request costs no promise; a
   * promise otherwise. Throws nothing synchronously; the promise rejects as `authenticate` does.
   */
  check(secret: string): Identity | KeyAuthFailure | Promise<Identity | KeyAuthFailure> {
    if (typeof secret !== 'string' || secret.length === 0 || secret.length > MAX_SECRET_LENGTH) return { error: 'unknown' };
    const hash = hashKeySecret(this.serverSecret, secret);
    const now = this.now();
    const cached = this.cache.get(hash, now);
    if (cached) {
      const verdict = this.judge(cached, hash, now);
      if (!('error' in verdict)) return verdict;
      // Cached data said no (a grace ended, an expiry passed): ask the store, it may know better.
      this.cache.invalidate(cached.id);
    }
    return this.lookUp(hash);
  }

  private async lookUp(hash: string): Promise<Identity | KeyAuthFailure> {
    const token = this.cache.begin();
    const found = await this.store.findByHash(hash);
    if (!found) return { error: 'unknown' };
    const key = judgedKey(found);
    const verdict = this.judge(key, hash, this.now());
    if (!('error' in verdict)) this.cache.set(hash, key, token);
    return verdict;
  }

  /**
   * Makes the store's config keys match `entries`: new ones are added, changed ones rewritten,
   * unchanged ones not touched (no change notice storm on reload), and config keys no longer
   * declared are deleted (or, on a store without delete, revoked: they stop working either way).
   * API keys are never touched; a config id already taken by one is reported and skipped.
   */
  syncConfigKeys(entries: readonly VirtualKeyConfig[]): Promise<ConfigSyncReport> {
    const run = this.syncing.then(() => this.doSync(entries));
    this.syncing = run.catch(() => undefined);
    return run;
  }

  private async doSync(entries: readonly VirtualKeyConfig[]): Promise<ConfigSyncReport> {
    const report: ConfigSyncReport = { created: [], updated: [], removed: [], unchanged: [], warnings: [] };
    const nowIso = new Date(this.now()).toISOString();
    const stored = new Map((await this.store.list()).map((r) => [r.id, r] as const));
    const declared = new Set<string>();
    for (const entry of entries) {
      declared.add(entry.id);
      const existing = stored.get(entry.id);
      if (existing && existing.source !== 'config') {
        report.warnings.push(`virtual key "${entry.id}" is not taken from the config: an admin API key already has this id`);
        continue;
      }
      if (entry.secret === undefined && entry.hash === undefined) {
        report.warnings.push(`virtual key "${entry.id}" has no secret (unset environment variable?): it is disabled until one is set`);
      }
      const next = configKeyRecord(entry, this.serverSecret, existing, nowIso);
      if (existing && sameRecord(existing, next)) {
        report.unchanged.push(entry.id);
        continue;
      }
      await this.store.put(next);
      (existing ? report.updated : report.created).push(entry.id);
    }
    for (const record of stored.values()) {
      if (record.source !== 'config' || declared.has(record.id)) continue;
      const store = this.store as DeletingStore;
      if (typeof store.delete === 'function') await store.delete(record.id);
      else if (record.revokedAt === undefined) await this.store.put({ ...record, revokedAt: nowIso });
      else continue;
      report.removed.push(record.id);
    }
    return report;
  }

  /** Stops listening to change notices (the store itself belongs to the state module). */
  close(): void {
    this.unsubscribe();
    this.cache.clear();
  }

  /**
   * The verdict on `key` for the presented `hash` at `now`. Every time-dependent check (each
   * secret's grace, revocation, the key's expiry) runs on every call; only what cannot change
   * for a given record (decoded hashes, parsed dates, the identity) was prepared beforehand.
   */
  private judge(key: JudgedKey, hash: string, now: number): Identity | KeyAuthFailure {
    // `hash` is always hashKeySecret's 64 hex digits: 32 bytes, decoded into the scratch buffer without allocating.
    this.presented.write(hash, 0, 'hex');
    let live = false;
    // Every entry is compared (no early exit) so the time taken does not depend on which one matched.
    for (const s of key.secrets) if (hashBytesEqual(s.hash, this.presented) && s.endsAtMs > now) live = true;
    if (!live) return { error: 'unknown' };
    // keyStatus's order: revocation wins over expiry.
    if (key.revoked) return { error: 'revoked' };
    if (key.expiresAtMs <= now) return { error: 'expired' };
    return key.identity;
  }

  /** The record of `id`; ids are only ever passed to the store's get, and the answer checked to be that id. */
  private async record(id: string): Promise<KeyRecord | undefined> {
    if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id)) return undefined;
    const r = await this.store.get(id);
    return r && typeof r === 'object' && r.id === id ? r : undefined;
  }

  private async existing(id: string): Promise<KeyRecord> {
    const r = await this.record(id);
    if (!r) throw new KeyServiceError('not_found', `No key with id '${id}'.`, 'id');
    return r;
  }

  private async mutable(id: string, verb: string): Promise<KeyRecord> {
    const r = await this.existing(id);
    if (r.source === 'config') throw readOnly(id, verb);
    if (r.revokedAt !== undefined) throw new KeyServiceError('revoked', `Key '${id}' is revoked and cannot be ${verb}; create a new key.`, 'id');
    return r;
  }

  private isoTime(value: string, param: string): string {
    const t = Date.parse(value);
    if (Number.isNaN(t)) throw new KeyServiceError('invalid', `${param} must be an ISO 8601 time such as 2026-01-31T00:00:00Z.`, param);
    return new Date(t).toISOString();
  }

  private futureTime(value: string, param: string, now: number): void {
    if (Date.parse(this.isoTime(value, param)) <= now) throw new KeyServiceError('invalid', `${param} must be in the future.`, param);
  }
}

/** A record prepared for `judge` (see JudgedKey). */
function judgedKey(record: KeyRecord): JudgedKey {
  return {
    id: record.id,
    secrets: record.secrets.map((s) => ({ hash: Buffer.from(s.hash, 'hex'), endsAtMs: s.expiresAt === undefined ? Infinity : Date.parse(s.expiresAt) })),
    revoked: record.revokedAt !== undefined,
    expiresAtMs: record.expiresAt === undefined ? Infinity : Date.parse(record.expiresAt),
    identity: keyIdentity(record),
  };
}

/**
 * The identity of a key, copied out of the record (it never aliases store data) and deeply
 * frozen: one object serves every request of the key while it is cached, so a handler that
 * tried to change it would throw instead of leaking the change into other requests. (The
 * casts keep Identity's mutable field types; nothing in src/ writes to a key's identity.)
 */
function keyIdentity(record: KeyRecord): Identity {
  const identity: Identity = { kind: 'key', keyId: record.id, name: record.name };
  if (record.team !== undefined) identity.team = record.team;
  if (record.routes !== undefined) identity.routes = Object.freeze([...record.routes]) as string[];
  if (record.limits !== undefined) identity.limits = Object.freeze({ ...record.limits });
  if (record.budget !== undefined) identity.budget = Object.freeze({ ...record.budget });
  return Object.freeze(identity);
}

function readOnly(id: string, verb: string): KeyServiceError {
  return new KeyServiceError('read_only', `Key '${id}' is declared in the config (auth.virtualKeys) and cannot be ${verb} through the API; change the config instead.`, 'id');
}

/** The object without its undefined fields (exactOptionalPropertyTypes-friendly, and no `team: undefined` in stored JSON). */
function withoutUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
