/**
 * The session store's contract: one interface, a memory and a Redis implementation, one
 * contract test suite run against both.
 *
 * Sessions are scoped by owner: the store addresses a session by (owner, id), so the same id
 * under two owners names two different sessions. Another caller's session is therefore not
 * "forbidden" but simply absent (404, never 403), an app cannot learn whether an id is used
 * by someone else, and nobody can squat an id another app will choose (`x-session-id: user-42`).
 */
import { randomBytes } from 'node:crypto';

import type { ChatMessage } from '../core/chat-request.js';

/** A stored conversation. */
export interface SessionRecord {
  /** The session id (`sess_…` when the router made it, else the app's own). */
  id: string;
  /** `identity.keyId` of the caller that created it. */
  owner: string;
  /** The conversation, oldest first: the system prompt (if any), then the turns. */
  messages: ChatMessage[];
  /** ISO 8601 time of creation. */
  createdAt: string;
  /** ISO 8601 time of the last append. */
  updatedAt: string;
  /** Size of the stored messages (their wire JSON, UTF-8), what `maxSessionBytes` bounds. */
  bytes: number;
}

/** What an append reports (the messages themselves are not shipped back: up to `maxSessionBytes` per turn). */
export interface AppendResult extends Omit<SessionRecord, 'messages'> {
  /** Messages stored after the append. */
  messageCount: number;
  /** Older messages dropped to keep the session within `maxSessionBytes` and `maxMessages`. */
  dropped: number;
}

export interface SessionStore {
  /**
   * A new, empty session. `id`: the app's own (validated), else `sess_` + 18 random bytes in
   * base64url. Throws `SessionExists` when this owner already has a session with that id.
   */
  create(owner: string, opts?: { id?: string }): Promise<SessionRecord>;
  /** The session; undefined when missing, expired, or another owner's. Resets the idle clock. */
  get(id: string, owner: string): Promise<SessionRecord | undefined>;
  /**
   * Adds messages at the end, atomically (concurrent appends never lose one), creating the
   * session when it does not exist (an app may choose its id with x-session-id). When
   * `messages` starts with system/developer messages, these replace the session's system
   * prompt (its leading system/developer messages) instead of being added, as `spliceHistory`
   * did for the request. When the result would exceed `maxSessionBytes` or `maxMessages`, the
   * oldest turns are dropped (see `planTrim`); when even that cannot make it fit, nothing is
   * written and `SessionTooLarge` is thrown.
   */
  append(id: string, owner: string, messages: ChatMessage[]): Promise<AppendResult>;
  /** Deletes the session at once; false when there was none (for this owner). */
  delete(id: string, owner: string): Promise<boolean>;
  close(): Promise<void>;
}

/** An app's session id: letters, digits and `_ . : -`, 1 to 128 of them (they become Redis key parts). */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

export function isValidSessionId(id: unknown): id is string {
  return typeof id === 'string' && SESSION_ID_PATTERN.test(id);
}

/** A server-made id: `sess_` + 18 random bytes in base64url (24 characters, 144 bits). */
export function newSessionId(random: (n: number) => Buffer = randomBytes): string {
  return `sess_${random(18).toString('base64url')}`;
}

/** The id is not one the router accepts (`SESSION_ID_PATTERN`). */
export class InvalidSessionId extends Error {
  constructor() {
    super('Invalid session id: use 1 to 128 letters, digits, "_", ".", ":" or "-".');
    this.name = 'InvalidSessionId';
  }
}

/** No such session for this caller. */
export class SessionNotFound extends Error {
  constructor(readonly sessionId: string) {
    super(`No session '${sessionId}'.`);
    this.name = 'SessionNotFound';
  }
}

/** `create` with an id this owner already uses. */
export class SessionExists extends Error {
  constructor(readonly sessionId: string) {
    super(`Session '${sessionId}' already exists.`);
    this.name = 'SessionExists';
  }
}

/**
 * An append that cannot fit even after dropping every older turn that may go: the new turn
 * itself (with the system prompt, and any earlier tool call its tool results answer) is over
 * `maxSessionBytes` or `maxMessages`. Nothing was written.
 */
export class SessionTooLarge extends Error {
  /** The caps in force. */
  readonly limits: { maxSessionBytes: number; maxMessages: number };

  constructor(
    readonly sessionId: string,
    /** Bytes and messages of the smallest session the append could leave. */
    readonly needed: { bytes: number; messages: number },
    limits: { maxSessionBytes: number; maxMessages: number },
  ) {
    super(
      `Session '${sessionId}' cannot hold this turn: at least ${needed.bytes} bytes in ${needed.messages} messages, ` +
        `the limit is ${limits.maxSessionBytes} bytes and ${limits.maxMessages} messages.`,
    );
    this.name = 'SessionTooLarge';
    this.limits = { maxSessionBytes: limits.maxSessionBytes, maxMessages: limits.maxMessages };
  }
}
