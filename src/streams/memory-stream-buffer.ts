/**
 * The in-process stream buffer: each stream an append-only array of events, readers a cursor
 * into it and a wake-up list.
 *
 * Exactly once, in order: a reader's only state is the index of the next event it yields. It
 * yields `events[i++]` while `i < events.length`, and only when it has caught up does it wait;
 * the check and the registration of its wake-up happen in one synchronous step, and appends run
 * on the same thread, so no append falls between them. The backlog and the live tail are the same
 * array: there is no boundary to cross.
 *
 * Bounds: `maxStreams` streams in progress; `maxStreamBytes` per stream; `maxBufferedBytes` in
 * all (each stream also counted at a fixed overhead), making room by dropping the oldest ended
 * streams before their ttl. Ended streams are forgotten `ttlMs` after their end, checked on every
 * call and by an unref'd sweep timer. A stream in progress never expires here: its producer runs
 * in this process and always ends it (the resumable layer aborts an upstream nobody reads).
 */
import type { StreamsConfig } from './streams-schema.js';
import type { StreamBuffer, StreamEvent } from './stream-buffer.js';
import { BUFFER_FULL_EVENT, StreamBufferFull, StreamNotWritable, StreamsFull } from './stream-errors.js';
import { DONE, newStreamId, startAfter } from './stream-ids.js';

/** What a stream costs besides its data (objects, ids), so that empty streams are bounded too. */
const ENTRY_OVERHEAD_BYTES = 512;
/** What one event costs besides its data. */
const EVENT_OVERHEAD_BYTES = 32;

interface Entry {
  owner: string;
  events: StreamEvent[];
  /** The data bytes counted against maxStreamBytes. */
  bytes: number;
  /** What this entry adds to the instance's total. */
  cost: number;
  ended: boolean;
  sealed: boolean;
  /** Dropped (expired or evicted): readers finish what they hold and stop. */
  gone: boolean;
  endedAt: number;
  readers: number;
  wake: Set<() => void>;
}

export interface MemoryStreamBuffer extends StreamBuffer {
  /** Streams held (in progress and ended), streams in progress, and the bytes counted against maxBufferedBytes. */
  stats(): { streams: number; live: number; bytes: number };
}

export function createMemoryStreamBuffer(cfg: StreamsConfig, opts: { now?: () => number } = {}): MemoryStreamBuffer {
  const now = opts.now ?? Date.now;
  const entries = new Map<string, Entry>();
  // Ended streams in the order they ended: with one ttl, also the order they expire.
  const ended = new Map<string, Entry>();
  let total = 0;
  let closed = false;

  const wakeAll = (e: Entry) => {
    const w = [...e.wake];
    e.wake.clear();
    for (const f of w) f();
  };
  const drop = (id: string, e: Entry) => {
    entries.delete(id);
    ended.delete(id);
    total -= e.cost;
    e.gone = true;
    wakeAll(e);
  };
  const sweep = () => {
    const cutoff = now() - cfg.ttlMs;
    for (const [id, e] of ended) {
      if (e.endedAt > cutoff) break;
      drop(id, e);
    }
  };
  /** Drops the oldest ended streams until `bytes` more fit; false when they cannot. */
  const makeRoom = (bytes: number): boolean => {
    for (const [id, e] of ended) {
      if (total + bytes <= cfg.maxBufferedBytes) break;
      drop(id, e);
    }
    return total + bytes <= cfg.maxBufferedBytes;
  };
  const charge = (e: Entry, bytes: number) => {
    e.cost += bytes;
    total += bytes;
  };
  const push = (e: Entry, data: string): string => {
    const id = String(e.events.length + 1);
    e.events.push({ id, data });
    return id;
  };
  const writable = (streamId: string): Entry => {
    const e = entries.get(streamId);
    if (!e) throw new StreamNotWritable(streamId, 'missing');
    if (e.ended) throw new StreamNotWritable(streamId, 'ended');
    return e;
  };

  const timer = setInterval(sweep, Math.min(cfg.ttlMs, 60_000));
  timer.unref();

  return {
    async open(owner, o) {
      if (closed) throw new StreamsFull('stream buffer closed');
      sweep();
      const id = o?.id ?? newStreamId();
      if (entries.has(id)) throw new Error(`stream ${id} exists`);
      if (entries.size - ended.size >= cfg.maxStreams) throw new StreamsFull();
      if (!makeRoom(ENTRY_OVERHEAD_BYTES)) throw new StreamsFull('stream buffers full (maxBufferedBytes)');
      const e: Entry = { owner, events: [], bytes: 0, cost: 0, ended: false, sealed: false, gone: false, endedAt: 0, readers: 0, wake: new Set() };
      charge(e, ENTRY_OVERHEAD_BYTES);
      entries.set(id, e);
      return { id };
    },

    async append(streamId, data) {
      const e = writable(streamId);
      if (e.sealed) throw new StreamBufferFull(streamId);
      const size = Buffer.byteLength(data);
      if (e.bytes + size > cfg.maxStreamBytes || !makeRoom(size + EVENT_OVERHEAD_BYTES)) {
        // Sealed beyond the caps: two small events, so a resumed reader ends instead of waiting.
        push(e, BUFFER_FULL_EVENT);
        push(e, DONE);
        charge(e, BUFFER_FULL_EVENT.length + DONE.length + 2 * EVENT_OVERHEAD_BYTES);
        e.sealed = true;
        wakeAll(e);
        throw new StreamBufferFull(streamId);
      }
      const id = push(e, data);
      e.bytes += size;
      charge(e, size + EVENT_OVERHEAD_BYTES);
      wakeAll(e);
      return id;
    },

    async end(streamId) {
      const e = entries.get(streamId);
      if (!e || e.ended) return;
      e.ended = true;
      e.endedAt = now();
      ended.set(streamId, e);
      wakeAll(e);
    },

    async read(streamId, owner, afterId, signal) {
      const after = startAfter(afterId);
      sweep();
      const e = entries.get(streamId);
      if (!e || e.owner !== owner) return undefined;
      return iterate(e, after, signal);
    },

    async hasReader(streamId) {
      return (entries.get(streamId)?.readers ?? 0) > 0;
    },

    async close() {
      closed = true;
      clearInterval(timer);
      for (const [id, e] of entries) drop(id, e);
    },

    stats() {
      sweep();
      return { streams: entries.size, live: entries.size - ended.size, bytes: total };
    },
  };
}

async function* iterate(e: Entry, after: number, signal: AbortSignal): AsyncGenerator<StreamEvent> {
  e.readers++;
  try {
    let i = after;
    while (!signal.aborted) {
      while (i < e.events.length) {
        const ev = e.events[i++]!;
        yield ev;
        if (ev.data === DONE || signal.aborted) return;
      }
      if (e.ended || e.gone) return;
      await changed(e, signal);
    }
  } finally {
    e.readers--;
  }
}

/** Resolves at the entry's next append, end or drop, or when the signal aborts. */
function changed(e: Entry, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      e.wake.delete(done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    e.wake.add(done);
    signal.addEventListener('abort', done, { once: true });
  });
}
