/**
 * How a session's messages are stored: each message as its OpenAI wire JSON (what an operator
 * reading Redis and an app reading GET /v1/sessions/{id} both expect), written by the one
 * router → wire mapping (`toWireRequest`) and read back through the one inbound parser
 * (`parseChatRequest`), so a stored message is exactly as valid as one an app sends.
 */
import type { ChatMessage, ChatRequest } from '../core/chat-request.js';
import { parseChatRequest } from '../wire/parse-chat-request.js';
import { toWireRequest } from '../wire/upstream-request.js';

/** A stored message: its wire JSON and that JSON's UTF-8 size. */
export interface EncodedMessage {
  wire: Record<string, unknown>;
  json: string;
  bytes: number;
}

const SHELL: Omit<ChatRequest, 'messages'> = {
  model: 'session',
  params: {},
  stream: false,
  includeUsage: false,
  passthrough: {},
  meta: { requestId: 'session', receivedAt: 0 },
};

/** Internal messages as OpenAI chat message JSON (`tool_calls`, `tool_call_id`…). */
export function toWireMessages(messages: readonly ChatMessage[]): Record<string, unknown>[] {
  if (messages.length === 0) return [];
  return toWireRequest({ ...SHELL, messages: [...messages] }, 'session').messages as Record<string, unknown>[];
}

/**
 * Each message as stored. `role` is always the first member of the JSON, so the Redis append
 * script can read it without decoding the message (a user's long paste is never parsed there).
 */
export function encodeMessages(messages: readonly ChatMessage[]): EncodedMessage[] {
  return toWireMessages(messages).map(({ role, ...rest }) => {
    const wire = { role, ...rest };
    const json = JSON.stringify(wire);
    return { wire, json, bytes: Buffer.byteLength(json, 'utf8') };
  });
}

/** Stored data that no longer reads as chat messages (never the app's fault: a 500). */
export class CorruptSession extends Error {
  constructor(sessionId: string, cause: unknown) {
    super(`Stored session '${sessionId}' does not read as chat messages`, { cause });
    this.name = 'CorruptSession';
  }
}

/** Stored wire JSON back to internal messages, validated as an app's messages would be. */
export function decodeMessages(sessionId: string, stored: readonly string[]): ChatMessage[] {
  if (stored.length === 0) return [];
  try {
    const messages: unknown = stored.map((json) => JSON.parse(json) as unknown);
    return parseChatRequest({ model: 'session', messages }, SHELL.meta).messages;
  } catch (err) {
    throw new CorruptSession(sessionId, err);
  }
}

/** How many messages at the start are system/developer ones: the system prompt. */
export function leadingInstructions(messages: readonly Pick<ChatMessage, 'role'>[]): number {
  let n = 0;
  while (n < messages.length && (messages[n]!.role === 'system' || messages[n]!.role === 'developer')) n++;
  return n;
}
