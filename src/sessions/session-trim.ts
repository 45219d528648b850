/**
 * Which older messages a full session drops to make room for a new turn. The memory store
 * calls `planTrim`; the Redis store runs the same rules in its append script
 * (`redis-session-lua.ts`), and the contract tests hold the two to the same answers.
 *
 * The rules, for a session laid out as [system prompt][older history][new turn]:
 * - the system prompt (the leading system/developer messages) and the new turn are kept;
 * - older history goes oldest first, a turn at a time: a cut falls only just before a user
 *   message (or after the whole older history), so what is left still starts with a user turn;
 * - a cut never separates an assistant's tool call from the tool message answering it;
 * - as little as possible goes: the first cut that fits both caps wins.
 * System/developer messages inside the history belong to the turn they sit in and go with it:
 * kept for ever, per-turn notes (the time, retrieved context) would fill a session until no
 * turn fitted any more.
 */

/** What the trim rules need to know of one stored message (wire field names). */
export interface TrimItem {
  role: string | undefined;
  /** Its UTF-8 JSON size. */
  bytes: number;
  /** Assistant: the ids of its tool calls. */
  calls?: readonly string[];
  /** Tool message: the call it answers. */
  answers?: string;
}

export interface TrimLimits {
  maxSessionBytes: number;
  maxMessages: number;
}

export type TrimPlan =
  /** Drop the first `drop` messages of the older history (0: it fits as it is). */
  | { ok: true; drop: number; bytes: number; messages: number }
  /** Nothing that may go is enough; `bytes`/`messages`: the smallest session possible. */
  | { ok: false; bytes: number; messages: number };

/** The metadata of a wire message (the JSON the stores keep). */
export function trimItem(wire: Record<string, unknown>, bytes: number): TrimItem {
  const role = typeof wire.role === 'string' ? wire.role : undefined;
  const item: TrimItem = { role, bytes };
  if (role === 'assistant' && Array.isArray(wire.tool_calls)) {
    item.calls = wire.tool_calls.flatMap((c: unknown) => (typeof c === 'object' && c !== null && typeof (c as { id?: unknown }).id === 'string' ? [(c as { id: string }).id] : []));
  }
  if (role === 'tool' && typeof wire.tool_call_id === 'string') item.answers = wire.tool_call_id;
  return item;
}

const sum = (items: readonly TrimItem[]) => items.reduce((n, m) => n + m.bytes, 0);

/**
 * How many of `history` (older messages, oldest first) to drop so that `lead` (the system
 * prompt kept), the rest of `history` and `added` (the new turn) fit `limits`.
 */
export function planTrim(lead: readonly TrimItem[], history: readonly TrimItem[], added: readonly TrimItem[], limits: TrimLimits): TrimPlan {
  const bytes = sum(lead) + sum(history) + sum(added);
  const messages = lead.length + history.length + added.length;
  const fits = (b: number, m: number) => b <= limits.maxSessionBytes && m <= limits.maxMessages;
  if (fits(bytes, messages)) return { ok: true, drop: 0, bytes, messages };
  // reach[i]: the last message answering a tool call made by history[i] (-1: none).
  const reach = new Array<number>(history.length).fill(-1);
  const caller = new Map<string, number>();
  const seq = history.length + added.length;
  for (let j = 0; j < seq; j++) {
    const m = j < history.length ? history[j]! : added[j - history.length]!;
    if (m.answers !== undefined) {
      const i = caller.get(m.answers);
      if (i !== undefined && i < history.length) reach[i] = Math.max(reach[i]!, j);
    }
    for (const id of m.calls ?? []) caller.set(id, j);
  }
  let dropped = 0;
  let farthest = -1;
  let best = { bytes, messages };
  for (let c = 1; c <= history.length; c++) {
    dropped += history[c - 1]!.bytes;
    farthest = Math.max(farthest, reach[c - 1]!);
    const boundary = c === history.length || history[c]!.role === 'user';
    // Dropping history[0..c-1] leaves an answer without its call when a call there is answered at c or later.
    if (!boundary || farthest >= c) continue;
    best = { bytes: bytes - dropped, messages: messages - c };
    if (fits(best.bytes, best.messages)) return { ok: true, drop: c, ...best };
  }
  return { ok: false, ...best };
}

/**
 * The size of a new turn (system prompt included) when it alone is over a cap: no trim can
 * make it fit, so the stores refuse it before reading (or sending to Redis) anything.
 */
export function oversizedTurn(added: readonly TrimItem[], limits: TrimLimits): { bytes: number; messages: number } | undefined {
  const bytes = sum(added);
  return bytes > limits.maxSessionBytes || added.length > limits.maxMessages ? { bytes, messages: added.length } : undefined;
}
