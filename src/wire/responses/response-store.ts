/**
 * Stored responses (`store`, `previous_response_id`, GET/DELETE /v1/responses/{id}) on the
 * router's session store, so they are bounded, owner-scoped and shared across instances exactly
 * as sessions are (memory by default, Redis with `state.backend: redis`).
 *
 * One session per response, its id the response id, its owner the caller's key id:
 *
 *   [0]  a developer message named `llm_router_response` holding the Response object (JSON)
 *   [1…] the conversation the model saw before answering, without the instructions (OpenAI
 *        does not carry them over): the previous response's conversation, then this input
 *
 * The answer itself is the Response's `output`, turned back into chat messages when a later
 * request continues from it, so it is stored once. The record never reaches a model: it is
 * taken off when the session is read here.
 *
 * Bounds: the session caps (`sessions.maxSessionBytes`, `maxMessages`, `idleTtlMs`,
 * `maxSessionsPerOwner`…). A conversation over them loses its oldest turns, as a session does;
 * a Response alone over them is not stored (logged by the caller).
 */
import type { ChatMessage } from '../../core/chat-request.js';
import { encodeMessages } from '../../sessions/session-codec.js';
import { planTrim, trimItem } from '../../sessions/session-trim.js';
import { SessionTooLarge, type SessionRecord, type SessionStore } from '../../sessions/session-types.js';
import { isObj, type Obj } from '../wire-common.js';
import { inputToMessages } from './responses-input.js';

/** The `name` of the record message. */
export const RESPONSE_RECORD = 'llm_router_response';

export interface StoredResponse {
  /** The Response object as the app received it. */
  response: Obj;
  /** Everything a continuation puts before its own input: the conversation, then this response's output. */
  conversation: ChatMessage[];
}

/** A session's stored response; undefined when the session is not one (an app's own session with that id). */
export function readStoredResponse(record: SessionRecord): StoredResponse | undefined {
  const [head, ...rest] = record.messages;
  if (!head || head.role !== 'developer' || head.name !== RESPONSE_RECORD || typeof head.content !== 'string') return undefined;
  let response: unknown;
  try {
    response = JSON.parse(head.content);
  } catch {
    return undefined;
  }
  if (!isObj(response) || response.object !== 'response' || !Array.isArray(response.output)) return undefined;
  return { response, conversation: [...rest, ...inputToMessages(response.output)] };
}

/** Whether a session id could be a stored response's (the store refuses other ids). */
export const isResponseId = (id: string): boolean => /^resp_[A-Za-z0-9_-]{1,123}$/.test(id);

export async function loadResponse(store: SessionStore, id: string, owner: string): Promise<StoredResponse | undefined> {
  if (!isResponseId(id)) return undefined;
  const record = await store.get(id, owner);
  return record ? readStoredResponse(record) : undefined;
}

/**
 * Stores `response` with the conversation it answered (`history`: the previous response's,
 * `input`: this request's). When the whole does not fit the session caps, the oldest turns of
 * `history` go (whole turns, tool calls with their results). Throws SessionTooLarge when even
 * the Response with this input alone does not fit, and the store's StateUnavailableError.
 */
export async function saveResponse(store: SessionStore, owner: string, response: Obj, history: readonly ChatMessage[], input: readonly ChatMessage[]): Promise<void> {
  const id = String(response.id);
  const lead: ChatMessage[] = [{ role: 'developer', name: RESPONSE_RECORD, content: JSON.stringify(response) }];
  try {
    await store.append(id, owner, [...lead, ...history, ...input]);
  } catch (err) {
    // The store keeps a new turn whole: an append this large is all "new turn" to it, so the
    // oldest history is dropped here, by the store's own rules, and the append tried once more.
    if (!(err instanceof SessionTooLarge) || history.length === 0) throw err;
    const items = (ms: readonly ChatMessage[]) => encodeMessages(ms).map((e) => trimItem(e.wire, e.bytes));
    const plan = planTrim(items(lead), items(history), items(input), err.limits);
    if (!plan.ok) throw err;
    await store.append(id, owner, [...lead, ...history.slice(plan.drop), ...input]);
  }
}

export async function deleteResponse(store: SessionStore, id: string, owner: string): Promise<boolean> {
  if (!isResponseId(id)) return false;
  const record = await store.get(id, owner);
  // An app's own session that merely has a resp_ id is not deleted through /v1/responses.
  if (!record || !readStoredResponse(record)) return false;
  return store.delete(id, owner);
}
