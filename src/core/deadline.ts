/**
 * The one deadline/abort helper: a signal that fires when any parent signal aborts or when a
 * timer runs out, whichever comes first. Every timeout in the router (route deadline, first
 * token, provider call, shadow call, probe) is one of these, so each is cleared when its work
 * ends (AbortSignal.timeout keeps a timer and its signal alive for the whole timeout) and fake
 * clocks drive them (plain setTimeout).
 */
import { LightController } from './light-abort.js';

export interface Deadline {
  /** Aborts on a parent's abort (with its reason) or on expiry (with `timeoutReason`). */
  readonly signal: AbortSignal;
  /** Resolves when the signal aborts, for racing work that ignores its signal. Never rejects. */
  readonly aborted: Promise<void>;
  /** True when the timer, not a parent, fired. */
  timedOut(): boolean;
  /** Links one more parent: its abort reaches this signal too (unlinked by `dispose`). */
  follow(parent: AbortSignal): void;
  /** Aborts now (e.g. the work was given up). */
  abort(reason?: unknown): void;
  /** Stops the timer only; parents still reach the signal (e.g. a stream that is under way). */
  clear(): void;
  /** Stops the timer and unlinks every parent: the work is over. */
  dispose(): void;
}

export interface DeadlineOptions {
  /** Signals whose abort aborts this one. */
  parents?: ReadonlyArray<AbortSignal | undefined>;
  /** Milliseconds until expiry; undefined: no timer. */
  ms?: number;
  /** The abort reason on expiry; default a DOMException named TimeoutError. */
  timeoutReason?: () => unknown;
  /**
   * Abort without a reason (plain AbortError) whatever the parents gave: fetch and the openai
   * SDK rethrow custom reasons as they are, and a caller classifying errors needs one shape.
   */
  plain?: boolean;
  /** Maps a parent's abort reason to this signal's (e.g. into a typed error). */
  parentReason?: (reason: unknown) => unknown;
  /**
   * The signal stays inside the router (the dispatcher, its queues, the providers, which
   * follow it by a listener): a LightSignal (core/light-abort.ts), far cheaper than node's.
   * Never for a signal handed to fetch, the SDK or node's APIs.
   */
  light?: boolean;
}

/**
 * A class rather than an object of closures: a request makes two to four of these, and the
 * methods live once on the prototype. Parents are followed by one listener each (a single
 * parent, the common case, is held without an array).
 */
class DeadlineImpl implements Deadline {
  private readonly ctl: AbortController | LightController;
  private expired = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The parent followed first and its listener; more parents in `links`. */
  private parent: AbortSignal | undefined;
  private onParent: (() => void) | undefined;
  private links: Array<[AbortSignal, () => void]> | undefined;
  /** Made on first use: most deadlines are never raced, and this is one promise and one listener fewer per call. */
  private abortedPromise: Promise<void> | undefined;

  constructor(private readonly opts: DeadlineOptions) {
    this.ctl = opts.light ? new LightController() : new AbortController();
    const parents = opts.parents;
    if (parents) for (let i = 0; i < parents.length; i++) if (parents[i]) this.follow(parents[i]!);
    if (opts.ms !== undefined && !this.ctl.signal.aborted) {
      this.timer = setTimeout(() => this.expire(), opts.ms);
      this.timer.unref?.();
    }
  }

  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  get aborted(): Promise<void> {
    const signal = this.ctl.signal;
    return (this.abortedPromise ??= signal.aborted ? Promise.resolve() : new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })));
  }

  timedOut(): boolean {
    return this.expired;
  }

  follow(parent: AbortSignal): void {
    if (parent.aborted) return this.end(this.reasonOf(parent));
    const onAbort = () => this.end(this.reasonOf(parent));
    parent.addEventListener('abort', onAbort, { once: true });
    if (this.parent === undefined) {
      this.parent = parent;
      this.onParent = onAbort;
    } else (this.links ??= []).push([parent, onAbort]);
  }

  abort(reason?: unknown): void {
    this.end(reason ?? new DOMException('This operation was aborted', 'AbortError'));
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.clear();
    if (this.parent !== undefined) {
      this.parent.removeEventListener('abort', this.onParent!);
      this.parent = undefined;
      this.onParent = undefined;
    }
    if (this.links) {
      for (const [p, fn] of this.links) p.removeEventListener('abort', fn);
      this.links = undefined;
    }
  }

  private expire(): void {
    this.expired = true;
    const opts = this.opts;
    this.end(opts.timeoutReason ? opts.timeoutReason() : new DOMException(`deadline of ${opts.ms} ms exceeded`, 'TimeoutError'));
  }

  private reasonOf(parent: AbortSignal): unknown {
    return this.opts.parentReason ? this.opts.parentReason(parent.reason) : parent.reason;
  }

  private end(reason: unknown): void {
    if (this.ctl.signal.aborted) return;
    if (this.opts.plain) this.ctl.abort();
    else this.ctl.abort(reason);
  }
}

const NO_OPTIONS: DeadlineOptions = {};

export function startDeadline(opts: DeadlineOptions = NO_OPTIONS): Deadline {
  return new DeadlineImpl(opts);
}
