import { pino, type Logger } from 'pino';

/** How long a log line may wait in the buffer before it is written (quiet periods). */
const LOG_FLUSH_MS = 100;
/**
 * Lines are written once this many bytes are buffered (or after LOG_FLUSH_MS). Each write is a
 * job on libuv's thread pool (a thread woken, the write, the event loop woken back): at a few
 * thousand requests a second 4 KiB meant ~250 of them a second, 32 KiB about 30.
 */
const LOG_BUFFER_BYTES = 32 * 1024;
/** The most bytes one write takes (sonic-boom requires it above LOG_BUFFER_BYTES): a pipe's buffer. */
const LOG_MAX_WRITE_BYTES = 64 * 1024;
/** Most bytes buffered for a standard output slower than the log (a stalled pipe): past it lines are dropped, and counted. */
const LOG_MAX_BUFFER_BYTES = 16 * 1024 * 1024;
/** At most one note of dropped lines on standard error per this long. */
const DROP_NOTE_MS = 10_000;

/**
 * Standard output as pino's asynchronous destination (sonic-boom): lines are buffered and
 * written in chunks (one write per ~32 KiB or per 100 ms), not one synchronous write per line on
 * the event loop. pino flushes it synchronously on exit (process.exit included, so a fatal line
 * before an exit is kept). A consumer that stops reading no longer stalls the event loop as a
 * synchronous write would: up to 16 MiB wait, then lines are dropped, and standard error says
 * how many (at most once per 10 s).
 */
function bufferedStdout(): pino.DestinationStream {
  const dest = pino.destination({ dest: 1, sync: false, contentMode: 'buffer', minLength: LOG_BUFFER_BYTES, maxWrite: LOG_MAX_WRITE_BYTES, maxLength: LOG_MAX_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS });
  // Buffers, not strings: in its string mode sonic-boom appends each line to the last pending
  // string and measures that with Buffer.byteLength, which flattens it, so every line copied
  // the whole pending chunk (~11 KB allocated per line at 32 KiB chunks). In buffer mode it keeps
  // a list and concatenates it once per write; a line becomes a Buffer as it arrives.
  const writeBuffer = dest.write as unknown as (this: typeof dest, data: Buffer) => boolean;
  dest.write = function write(this: typeof dest, line: string | Buffer) {
    return writeBuffer.call(this, typeof line === 'string' ? Buffer.from(line, 'utf8') : line);
  } as typeof dest.write;
  let dropped = 0;
  let noteTimer: ReturnType<typeof setTimeout> | undefined;
  dest.on('drop', () => {
    dropped++;
    noteTimer ??= setTimeout(() => {
      process.stderr.write(`llm-router: standard output is not keeping up with the log; ${dropped} line(s) dropped\n`);
      dropped = 0;
      noteTimer = undefined;
    }, DROP_NOTE_MS).unref();
  });
  return dest;
}

/** JSON logs on standard output (buffered); credentials are redacted wherever they might appear. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { service: 'llm-router' },
      redact: {
        paths: ['*.authorization', '*.Authorization', '*["api-key"]', '*.apiKey', '*.apiKeys', '*.adToken', 'headers.authorization', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    bufferedStdout(),
  );
}

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
type LogArgs = Parameters<Logger['info']>;

/**
 * The logger `lazyChild` returns: a class, so that a request's costs one small object (the
 * methods live on the prototype) and the child itself only once a line is written.
 */
class LazyChild {
  private made: Logger | undefined;
  constructor(
    private readonly parent: Logger,
    private readonly bindings: Record<string, unknown>,
  ) {}

  private get real(): Logger {
    return (this.made ??= this.parent.child(this.bindings));
  }

  private line(level: Level, args: LogArgs): void {
    if (this.parent.isLevelEnabled(level)) (this.real[level] as (...a: LogArgs) => void)(...args);
  }

  trace(...args: LogArgs): void {
    this.line('trace', args);
  }
  debug(...args: LogArgs): void {
    this.line('debug', args);
  }
  info(...args: LogArgs): void {
    this.line('info', args);
  }
  warn(...args: LogArgs): void {
    this.line('warn', args);
  }
  error(...args: LogArgs): void {
    this.line('error', args);
  }
  fatal(...args: LogArgs): void {
    this.line('fatal', args);
  }
  child(b: Record<string, unknown>, o?: object): Logger {
    return this.real.child(b, o);
  }
  isLevelEnabled(l: string): boolean {
    return this.parent.isLevelEnabled(l);
  }
  get level(): string {
    return this.parent.level;
  }
}

/**
 * `parent.child(bindings)`, made on the first line logged: a request's logger costs nothing on
 * the common path, where only the access line (its own logger) is written. Same lines, same
 * bindings as the child itself. Covers the level methods, `child`, `isLevelEnabled` and `level`.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  return new LazyChild(parent, bindings) as unknown as Logger;
}
