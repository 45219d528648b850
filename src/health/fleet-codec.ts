import { z } from 'zod';
import type { FleetMessage, SharedHealth } from './fleet-types.js';

/**
 * How shared health is written to Redis and read back. Reading is loose (another router
 * version may add fields; a field we cannot read is dropped, not fatal); only the state and its
 * version are required.
 */

const stateSchema = z.enum(['healthy', 'open', 'probation', 'drained']);
const eventSchema = z.enum(['open', 'probation', 'promote', 'drain', 'restore', 'release']);
const healthErrorSchema = z.object({ at: z.number(), source: z.enum(['live', 'probe', 'shadow']), kind: z.string(), message: z.string() });
const probeSchema = z.object({ at: z.number(), outcome: z.enum(['pass', 'fail', 'timeout']), latencyMs: z.number(), detail: z.string().optional() });
const drainSchema = z.object({ at: z.number(), by: z.string().optional(), reason: z.string().optional() });

const recordSchema = z.object({
  ver: z.number().int().nonnegative(),
  state: stateSchema,
  event: eventSchema.optional().catch(undefined),
  since: z.number(),
  by: z.string().optional().catch(undefined),
  at: z.number().optional().catch(undefined),
  why: z.string().optional().catch(undefined),
  lastError: healthErrorSchema.optional().catch(undefined),
  drain: drainSchema.optional().catch(undefined),
  lastProbe: probeSchema.optional().catch(undefined),
});

const messageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('state'), ver: z.number().int().positive(), key: z.string(), from: z.string(), rec: z.record(z.string(), z.unknown()) }),
  z.object({ type: z.literal('probe'), key: z.string(), from: z.string(), probe: probeSchema }),
]);

const json = (v: unknown): string => (v === undefined ? '' : JSON.stringify(v));
const parseJson = (s: string | undefined): unknown => {
  if (!s) return undefined;
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return undefined;
  }
};
const num = (s: string | undefined): number | undefined => (s === undefined || s === '' ? undefined : Number(s));
const str = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : s);

/** Hash fields of a record as field/value pairs; absent optional fields are written empty (read back as absent). */
export function toFields(rec: Omit<SharedHealth, 'ver'>): string[] {
  return [
    'state', rec.state,
    'event', rec.event ?? '',
    'since', String(rec.since),
    'by', rec.by ?? '',
    'at', rec.at === undefined ? '' : String(rec.at),
    'why', rec.why ?? '',
    'lastError', json(rec.lastError),
    'drain', json(rec.drain),
    'lastProbe', json(rec.lastProbe),
  ];
}

/** A record from its hash fields; undefined when the hash holds no state (never written, or unreadable). */
export function fromFields(flat: Record<string, string>): SharedHealth | undefined {
  if (!flat.state) return undefined;
  const parsed = recordSchema.safeParse({
    ver: num(flat.ver) ?? 0,
    state: flat.state,
    event: str(flat.event),
    since: num(flat.since) ?? 0,
    by: str(flat.by),
    at: num(flat.at),
    why: str(flat.why),
    lastError: parseJson(flat.lastError),
    drain: parseJson(flat.drain),
    lastProbe: parseJson(flat.lastProbe),
  });
  return parsed.success ? stripUndefined(parsed.data) : undefined;
}

/** HGETALL as a flat array (what a Lua script returns) to an object. */
export function pairsToObject(flat: readonly unknown[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/**
 * A state message without its version: the write script splices `"ver":N` in at the front, so
 * the version published is the one the write produced.
 */
export function stateMessageBody(key: string, from: string, rec: Omit<SharedHealth, 'ver'>): string {
  return JSON.stringify({ type: 'state', key, from, rec });
}

export function probeMessage(key: string, from: string, probe: SharedHealth['lastProbe']): string {
  return JSON.stringify({ type: 'probe', key, from, probe });
}

/** A message from the events channel, or undefined when it is not one we can use. */
export function parseMessage(text: string): FleetMessage | undefined {
  const parsed = messageSchema.safeParse(parseJson(text));
  if (!parsed.success) return undefined;
  const m = parsed.data;
  if (m.type === 'probe') return { type: 'probe', key: m.key, from: m.from, probe: stripUndefined(m.probe) };
  const rec = recordSchema.safeParse({ ...m.rec, ver: m.ver });
  return rec.success ? { type: 'state', key: m.key, from: m.from, rec: stripUndefined(rec.data) } : undefined;
}

/** Drops keys whose value is undefined (strict optional property types downstream). */
function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
