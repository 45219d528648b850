/**
 * Stream coalescing: a caller whose identical request is already streaming joins that stream
 * and gets every item from its start, in order, from a replay buffer.
 *
 * - The upstream is read as fast as its fastest reader reads (pull, not push): with one reader
 *   it is a plain pass-through with the upstream's own backpressure, and slower readers replay
 *   from the buffer.
 * - The buffer holds every item while the stream can be joined. Once what it has seen passes
 *   `maxBufferBytes` (default 4 MiB), the stream can no longer be joined (its key is freed: the
 *   next identical caller opens its own upstream, which later callers join) and the buffer keeps
 *   only what a present reader has yet to read.
 * - A reader leaves by finishing, by `return()` (a `break` out of `for await`), or by its
 *   caller's signal aborting (its pending `next()` then rejects with the reason). Leaving never
 *   disturbs the others. When the last one leaves before the end, the shared signal is aborted and
 *   the upstream iterator is `return()`ed. See coalesce.ts for why the shared call has its own signal.
 * - A failure of `open` rejects every `join` waiting for it; a failure mid-stream is thrown to
 *   every reader after the items before it. Neither is kept: the key is freed when the stream
 *   ends, fails, or is abandoned.
 *
 * A caller that got `items` must read them to the end or call `items.return()`: until then it
 * counts as a reader (the upstream stays open for it and its unread items stay buffered). Items
 * are shared by reference between readers: a reader must not change them (transform into new ones).
 */
import { abortReason } from './abort-reason.js';

export interface StreamCoalescerOptions<X> {
  /** Items seen past which a stream can no longer be joined (default 4 MiB by `sizeOf`). */
  maxBufferBytes?: number;
  /** Size of an item (default: its JSON text's UTF-8 bytes). */
  sizeOf?: (x: X) => number;
}

export interface JoinedStream<X, S> {
  /** This caller's own reader of the shared stream, from its first item. Single use. */
  items: AsyncIterableIterator<X>;
  /** False for the caller whose `open` ran. */
  shared: boolean;
  /** What the shared `open` resolved to, for its envelope fields (model, id); never iterate it. */
  source: S;
}

export interface StreamCoalescer<X> {
  join<S extends AsyncIterable<X>>(key: string, open: (signal: AbortSignal) => Promise<S>, callerSignal?: AbortSignal): Promise<JoinedStream<X, S>>;
  /** Streams that can be joined now. */
  inFlight(): number;
  /** Counters since start: upstreams opened, callers that joined one, streams that outgrew the buffer. */
  stats(): { streams: number; joined: number; overflowed: number };
}

export const DEFAULT_MAX_BUFFER_BYTES = 4 * 1024 * 1024;

interface Reader {
  /** Index (in the whole stream) of the next item to read. */
  pos: number;
  left: boolean;
}

const DONE = { done: true, value: undefined } as const;

function jsonBytes(x: unknown): number {
  try {
    const text = JSON.stringify(x);
    return text === undefined ? 0 : Buffer.byteLength(text);
  } catch {
    return 0;
  }
}

export function createStreamCoalescer<X>(opts: StreamCoalescerOptions<X> = {}): StreamCoalescer<X> {
  const maxBufferBytes = opts.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
  const sizeOf = opts.sizeOf ?? jsonBytes;
  const flights = new Map<string, SharedStream<X>>();
  const counts = { streams: 0, joined: 0, overflowed: 0 };

  return {
    async join<S extends AsyncIterable<X>>(key: string, open: (signal: AbortSignal) => Promise<S>, callerSignal?: AbortSignal) {
      if (callerSignal?.aborted) throw abortReason(callerSignal);
      let flight = flights.get(key);
      const shared = flight !== undefined;
      if (!flight) {
        const created = new SharedStream<X>(open, maxBufferBytes, sizeOf, (why) => {
          if (flights.get(key) === created) flights.delete(key);
          if (why === 'overflow') counts.overflowed++;
        });
        flight = created;
        flights.set(key, created);
        counts.streams++;
      } else {
        counts.joined++;
      }
      const f = flight;
      const reader = f.addReader();
      let source: S;
      try {
        source = (await raceAbort(f.opened, callerSignal)) as S;
      } catch (err) {
        f.leave(reader);
        throw err;
      }
      return { items: f.iteratorFor(reader, callerSignal), shared, source };
    },
    inFlight() {
      return flights.size;
    },
    stats() {
      return { ...counts };
    },
  };
}

/** One upstream stream and its readers. */
class SharedStream<X> {
  readonly controller = new AbortController();
  /** Resolves to what `open` gave once the upstream iterator is ready. */
  readonly opened: Promise<AsyncIterable<X>>;
  private iterator: AsyncIterator<X> | undefined;
  private buffer: X[] = [];
  /** Stream index of buffer[0]. */
  private base = 0;
  private seenBytes = 0;
  private joinable = true;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private pulling: Promise<void> | undefined;
  private readonly readers = new Set<Reader>();

  constructor(
    open: (signal: AbortSignal) => Promise<AsyncIterable<X>>,
    private readonly maxBufferBytes: number,
    private readonly sizeOf: (x: X) => number,
    /** Called once when the stream stops being joinable. */
    private readonly unjoinable: (why: 'overflow' | 'ended') => void,
  ) {
    this.opened = (async () => {
      const source = await open(this.controller.signal);
      const iterator = source[Symbol.asyncIterator]();
      if (this.ended) {
        closeQuietly(iterator); // everyone left while it opened
        throw abortReason(this.controller.signal);
      }
      this.iterator = iterator;
      return source;
    })();
    this.opened.catch((err: unknown) => this.end({ error: err }));
  }

  addReader(): Reader {
    const reader: Reader = { pos: 0, left: false };
    this.readers.add(reader);
    return reader;
  }

  iteratorFor(reader: Reader, signal?: AbortSignal): AsyncIterableIterator<X> {
    const onAbort = () => this.leave(reader);
    signal?.addEventListener('abort', onAbort, { once: true });
    const leave = () => {
      signal?.removeEventListener('abort', onAbort);
      this.leave(reader);
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next: async () => {
        if (signal?.aborted) {
          leave(); // it may have aborted between open and now, when no listener was there yet
          throw abortReason(signal);
        }
        try {
          const r = await this.read(reader, signal);
          if (r.done) leave();
          return r;
        } catch (err) {
          leave();
          throw err;
        }
      },
      return: async () => {
        leave();
        return DONE;
      },
    };
  }

  /** A reader leaves; the last one to leave before the end closes the upstream. */
  leave(reader: Reader): void {
    if (reader.left) return;
    reader.left = true;
    this.readers.delete(reader);
    if (this.readers.size > 0) {
      this.trim();
      return;
    }
    if (this.ended) return;
    this.controller.abort(new DOMException('Every reader of the shared stream left.', 'AbortError'));
    this.end(undefined);
    this.buffer = [];
    if (this.iterator) closeQuietly(this.iterator);
  }

  private async read(reader: Reader, signal?: AbortSignal): Promise<IteratorResult<X>> {
    for (;;) {
      if (reader.left) return DONE;
      const i = reader.pos - this.base;
      if (i < this.buffer.length) {
        const value = this.buffer[i] as X;
        reader.pos++;
        this.trim();
        return { done: false, value };
      }
      if (this.failure) throw this.failure.error;
      if (this.ended) return DONE;
      await raceAbort(this.pull(), signal);
    }
  }

  /** Reads the next upstream item into the buffer; one read at a time, shared by every waiting reader. */
  private pull(): Promise<void> {
    this.pulling ??= (async () => {
      try {
        const r = await this.iterator!.next();
        if (this.ended) return; // abandoned meanwhile
        if (r.done) this.end(undefined);
        else this.push(r.value);
      } catch (err) {
        this.end({ error: err });
      } finally {
        this.pulling = undefined;
      }
    })();
    return this.pulling;
  }

  private push(value: X): void {
    this.buffer.push(value);
    if (!this.joinable) return;
    this.seenBytes += this.sizeOf(value);
    if (this.seenBytes > this.maxBufferBytes) {
      this.joinable = false;
      this.unjoinable('overflow');
    }
  }

  private end(failure: { error: unknown } | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = failure;
    if (this.joinable) {
      this.joinable = false;
      this.unjoinable('ended');
    }
  }

  /** Once nobody new can join, drops what every present reader has read. */
  private trim(): void {
    if (this.joinable || this.readers.size === 0) return;
    let min = Infinity;
    for (const r of this.readers) min = Math.min(min, r.pos);
    const drop = min - this.base;
    // Amortised: shift the array only once a good part of it is dead.
    if (drop > 0 && (drop >= 256 || drop * 2 >= this.buffer.length)) {
      this.buffer = this.buffer.slice(drop);
      this.base = min;
    }
  }
}

/** `p`, or a rejection with the signal's reason as soon as it aborts. */
function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function closeQuietly(iterator: AsyncIterator<unknown>): void {
  try {
    Promise.resolve(iterator.return?.()).catch(() => undefined);
  } catch {
    // a return() that throws: the upstream is already gone
  }
}
