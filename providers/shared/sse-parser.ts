/**
 * Server-sent events read straight from the upstream's bytes (WHATWG rules: lines end in LF,
 * CRLF or CR; `data:` lines of one event are joined with LF; a blank line ends an event;
 * comments and other fields are skipped). Written for the hot path rather than taken from a
 * library: it works on Buffers without decoding partial lines, and it enforces the byte cap on
 * a line (and on one event's data) before anything is buffered past it, which string-based
 * parsers cannot do.
 */
import { ResponseTooLargeError } from './node-fetch.js';

const LF = 10;
const CR = 13;
/** `data:` as bytes. */
const DATA = [100, 97, 116, 97, 58] as const;
/** `event:` as bytes. */
const EVENT = [101, 118, 101, 110, 116, 58] as const;

function startsWith(line: Buffer, prefix: readonly number[]): boolean {
  if (line.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (line[i] !== prefix[i]) return false;
  return true;
}

/** A field's value: after the colon, one leading space dropped. */
function valueOf(line: Buffer, nameLength: number): string {
  const start = line[nameLength] === 32 ? nameLength + 1 : nameLength;
  return line.toString('utf8', start);
}

export interface SseEvent {
  /** The `event:` field, null when absent. */
  event: string | null;
  data: string;
}

export class SseParser {
  /** Bytes of a line not yet ended. */
  private rest: Buffer | undefined;
  /** The last chunk ended in CR: an LF opening the next one belongs to it. */
  private skipLF = false;
  private data: string[] = [];
  private dataBytes = 0;
  private event: string | null = null;

  constructor(
    /** Largest line, and largest data of one event, in bytes. */
    private readonly maxBytes: number,
    private readonly onEvent: (ev: SseEvent) => void,
  ) {}

  /** Feeds bytes; throws ResponseTooLargeError when a line or an event crosses the cap. */
  push(chunk: Buffer): void {
    let pos = 0;
    const n = chunk.length;
    if (this.skipLF) {
      this.skipLF = false;
      if (n > 0 && chunk[0] === LF) pos = 1;
    }
    const hasCR = chunk.includes(CR, pos);
    while (pos < n) {
      let end: number;
      if (hasCR) {
        end = pos;
        while (end < n && chunk[end] !== LF && chunk[end] !== CR) end++;
      } else {
        end = chunk.indexOf(LF, pos);
        if (end < 0) end = n;
      }
      if (end === n) {
        this.keep(chunk.subarray(pos, n));
        return;
      }
      const part = chunk.subarray(pos, end);
      let line: Buffer;
      if (this.rest) {
        if (this.rest.length + part.length > this.maxBytes) throw new ResponseTooLargeError(this.maxBytes, 'line');
        line = Buffer.concat([this.rest, part]);
        this.rest = undefined;
      } else {
        if (part.length > this.maxBytes) throw new ResponseTooLargeError(this.maxBytes, 'line');
        line = part;
      }
      this.line(line);
      pos = end + 1;
      if (chunk[end] === CR) {
        if (pos < n) {
          if (chunk[pos] === LF) pos++;
        } else this.skipLF = true;
      }
    }
  }

  /** The stream ended: an event not closed by a blank line is dropped (as browsers do). */
  end(): void {
    this.rest = undefined;
    this.data = [];
    this.dataBytes = 0;
    this.event = null;
  }

  private keep(part: Buffer): void {
    if (part.length === 0) return;
    const size = (this.rest?.length ?? 0) + part.length;
    if (size > this.maxBytes) throw new ResponseTooLargeError(this.maxBytes, 'line');
    // Copied: the chunk's memory belongs to the socket's reader.
    this.rest = this.rest ? Buffer.concat([this.rest, part], size) : Buffer.from(part);
  }

  private line(line: Buffer): void {
    if (line.length === 0) {
      if (this.data.length === 0) {
        this.event = null;
        return;
      }
      const ev: SseEvent = { event: this.event, data: this.data.length === 1 ? this.data[0]! : this.data.join('\n') };
      this.data = [];
      this.dataBytes = 0;
      this.event = null;
      this.onEvent(ev);
      return;
    }
    if (startsWith(line, DATA)) {
      this.dataBytes += line.length;
      if (this.dataBytes > this.maxBytes) throw new ResponseTooLargeError(this.maxBytes, 'line');
      this.data.push(valueOf(line, DATA.length));
    } else if (startsWith(line, EVENT)) {
      this.event = valueOf(line, EVENT.length);
    } else if (line.length === 4 && startsWith(line, DATA.slice(0, 4))) {
      // A bare `data` line: an empty data value.
      this.data.push('');
    }
    // Comments (`:`), `id:`, `retry:` and unknown fields are not used by chat streams.
  }
}
