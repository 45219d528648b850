/**
 * Sessions in this process, bounded three ways: `maxSessions` and `maxTotalBytes` over all
 * sessions, `maxSessionsPerOwner` per caller; past a bound the least recently used session
 * goes (a dropped session is as if it had expired: the app's next turn starts a new one).
 * Idle expiry is checked on every use against the injected clock; because every use moves a
 * session to the end of the LRU order, the expired ones gather at its head and are swept from
 * there, so no timer runs and the cost of a call stays bounded (amortised O(1) besides the
 * session's own messages).
 */
import type { ChatMessage } from '../core/chat-request.js';
import { ownerTag } from './owner-tag.js';
import { decodeMessages, encodeMessages, leadingInstructions } from './session-codec.js';
import type { SessionsConfig } from './session-schema.js';
import { oversizedTurn, planTrim, trimItem, type TrimItem } from './session-trim.js';
import {
  InvalidSessionId,
  isValidSessionId,
  newSessionId,
  SessionExists,
  SessionNotFound,
  SessionTooLarge,
  type AppendResult,
  type SessionRecord,
  type SessionStore,
} from './session-types.js';

type MemorySessionsConfig = Pick<SessionsConfig, 'idleTtlMs' | 'maxSessionBytes' | 'maxMessages' | 'maxSessions' | 'maxTotalBytes' | 'maxSessionsPerOwner'>;

interface StoredMessage extends TrimItem {
  json: string;
}

interface Entry {
  key: string;
  id: string;
  owner: string;
  tag: string;
  messages: StoredMessage[];
  /** How many of `messages` are the system prompt. */
  lead: number;
  bytes: number;
  createdAt: string;
  updatedAt: string;
  touchedAt: number;
}

export interface MemorySessionStoreOptions {
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /** Source of random bytes for new ids (tests). */
  random?: (n: number) => Buffer;
}

const total = (messages: readonly StoredMessage[]) => messages.reduce((n, m) => n + m.bytes, 0);

class MemorySessionStore implements SessionStore {
  /** Every session, least recently used first. Keys are `<owner tag>\n<id>`: a Map, never a plain object. */
  private readonly sessions = new Map<string, Entry>();
  /** Each owner's sessions, least recently used first. */
  private readonly owners = new Map<string, Map<string, Entry>>();
  private totalBytes = 0;
  private readonly now: () => number;

  constructor(
    private readonly cfg: MemorySessionsConfig,
    private readonly opts: MemorySessionStoreOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  async create(owner: string, opts: { id?: string } = {}): Promise<SessionRecord> {
    const id = opts.id ?? newSessionId(this.opts.random);
    if (!isValidSessionId(id)) throw new InvalidSessionId();
    this.sweep();
    if (this.lookup(id, owner)) throw new SessionExists(id);
    const entry = this.fresh(id, owner);
    this.admit(entry);
    return this.record(entry);
  }

  async get(id: string, owner: string): Promise<SessionRecord | undefined> {
    if (!isValidSessionId(id)) throw new InvalidSessionId();
    this.sweep();
    const entry = this.lookup(id, owner);
    if (!entry) return undefined;
    this.touch(entry);
    return this.record(entry);
  }

  async append(id: string, owner: string, messages: ChatMessage[]): Promise<AppendResult> {
    if (!isValidSessionId(id)) throw new InvalidSessionId();
    const encoded = encodeMessages(messages).map((e): StoredMessage => ({ ...trimItem(e.wire, e.bytes), json: e.json }));
    const oversized = oversizedTurn(encoded, this.cfg);
    if (oversized) throw new SessionTooLarge(id, oversized, this.cfg);
    this.sweep();
    const key = this.keyOf(id, owner);
    const existing = this.sessions.get(key);
    if (existing && existing.owner !== owner) throw new SessionNotFound(id); // a tag collision: never another owner's data
    const live = existing && !this.expired(existing) ? existing : undefined;
    const entry = live ?? this.fresh(id, owner);

    const newLead = leadingInstructions(messages);
    const lead = newLead > 0 ? encoded.slice(0, newLead) : entry.messages.slice(0, entry.lead);
    const history = entry.messages.slice(entry.lead);
    const added = encoded.slice(newLead);
    const plan = planTrim(lead, history, added, this.cfg);
    if (!plan.ok) throw new SessionTooLarge(id, { bytes: plan.bytes, messages: plan.messages }, this.cfg);

    const next = [...lead, ...history.slice(plan.drop), ...added];
    const bytes = total(next);
    const updatedAt = new Date(this.now()).toISOString();
    if (live) {
      this.totalBytes += bytes - live.bytes;
      Object.assign(live, { messages: next, lead: lead.length, bytes, updatedAt });
      this.touch(live);
      this.evict(live);
    } else {
      if (existing) this.remove(existing);
      Object.assign(entry, { messages: next, lead: lead.length, bytes, updatedAt });
      this.admit(entry);
    }
    return { id, owner, createdAt: entry.createdAt, updatedAt, bytes, messageCount: next.length, dropped: plan.drop };
  }

  async delete(id: string, owner: string): Promise<boolean> {
    if (!isValidSessionId(id)) throw new InvalidSessionId();
    this.sweep();
    const entry = this.lookup(id, owner);
    if (!entry) return false;
    this.remove(entry);
    return true;
  }

  async close(): Promise<void> {
    this.sessions.clear();
    this.owners.clear();
    this.totalBytes = 0;
  }

  private keyOf(id: string, owner: string): string {
    return `${ownerTag(owner)}\n${id}`;
  }

  /** The live session of this owner, if any (an expired one is removed on the way). */
  private lookup(id: string, owner: string): Entry | undefined {
    const entry = this.sessions.get(this.keyOf(id, owner));
    if (!entry) return undefined;
    if (this.expired(entry)) {
      this.remove(entry);
      return undefined;
    }
    return entry.owner === owner ? entry : undefined;
  }

  private fresh(id: string, owner: string): Entry {
    const at = this.now();
    const iso = new Date(at).toISOString();
    const tag = ownerTag(owner);
    return { key: `${tag}\n${id}`, id, owner, tag, messages: [], lead: 0, bytes: 0, createdAt: iso, updatedAt: iso, touchedAt: at };
  }

  private expired(entry: Entry): boolean {
    return this.now() - entry.touchedAt >= this.cfg.idleTtlMs;
  }

  /** Inserts a new session, first making room under its owner's bound. */
  private admit(entry: Entry): void {
    let mine = this.owners.get(entry.tag);
    if (!mine) this.owners.set(entry.tag, (mine = new Map()));
    for (const old of mine.values()) {
      if (mine.size < this.cfg.maxSessionsPerOwner) break;
      this.remove(old);
    }
    entry.touchedAt = this.now();
    this.sessions.set(entry.key, entry);
    mine.set(entry.key, entry);
    this.totalBytes += entry.bytes;
    this.evict(entry);
  }

  /** Moves a session to the end of both LRU orders. */
  private touch(entry: Entry): void {
    entry.touchedAt = this.now();
    this.sessions.delete(entry.key);
    this.sessions.set(entry.key, entry);
    const mine = this.owners.get(entry.tag);
    mine?.delete(entry.key);
    mine?.set(entry.key, entry);
  }

  private remove(entry: Entry): void {
    if (this.sessions.get(entry.key) !== entry) return;
    this.sessions.delete(entry.key);
    this.totalBytes -= entry.bytes;
    const mine = this.owners.get(entry.tag);
    mine?.delete(entry.key);
    if (mine?.size === 0) this.owners.delete(entry.tag);
  }

  /** Drops least recently used sessions (never `keep`) while over `maxSessions` or `maxTotalBytes`. */
  private evict(keep: Entry): void {
    for (const entry of this.sessions.values()) {
      if (this.sessions.size <= this.cfg.maxSessions && this.totalBytes <= this.cfg.maxTotalBytes) break;
      if (entry !== keep) this.remove(entry);
    }
  }

  /** Removes expired sessions from the head of the LRU order. */
  private sweep(): void {
    for (const entry of this.sessions.values()) {
      if (!this.expired(entry)) break;
      this.remove(entry);
    }
  }

  private record(entry: Entry): SessionRecord {
    return {
      id: entry.id,
      owner: entry.owner,
      messages: decodeMessages(entry.id, entry.messages.map((m) => m.json)),
      createdAt: entry.createdAt,
      updatedAt: entry.updatedAt,
      bytes: entry.bytes,
    };
  }
}

/** A bounded in-process session store (the default without Redis). */
export function createMemorySessionStore(cfg: MemorySessionsConfig, opts: MemorySessionStoreOptions = {}): SessionStore {
  return new MemorySessionStore(cfg, opts);
}
