/**
 * The one deadline/abort helper: a signal that fires when any parent signal aborts or when a
 * timer runs out, whichever comes first. Every timeout in the router (route deadline, first
 * token, provider call, shadow call, probe) is one of these, so each is cleared when its work
 * ends (AbortSignal.timeout keeps a timer and its signal alive for the whole timeout) and fake
 * clocks drive them (plain setTimeout).
 */
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
}

export function startDeadline(opts: DeadlineOptions = {}): Deadline {
  const ctl = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const links: Array<[AbortSignal, () => void]> = [];
  const abort = (reason: unknown) => {
    if (ctl.signal.aborted) return;
    if (opts.plain) ctl.abort();
    else ctl.abort(reason);
  };
  // Made on first use: most deadlines are never raced, and this is one promise and one listener fewer per call.
  let aborted: Promise<void> | undefined;
  const abortedPromise = () =>
    (aborted ??= ctl.signal.aborted ? Promise.resolve() : new Promise<void>((resolve) => ctl.signal.addEventListener('abort', () => resolve(), { once: true })));
  const follow = (parent: AbortSignal) => {
    const reasonOf = () => (opts.parentReason ? opts.parentReason(parent.reason) : parent.reason);
    if (parent.aborted) return abort(reasonOf());
    const onAbort = () => abort(reasonOf());
    parent.addEventListener('abort', onAbort, { once: true });
    links.push([parent, onAbort]);
  };
  for (const p of opts.parents ?? []) if (p) follow(p);
  if (opts.ms !== undefined && !ctl.signal.aborted) {
    timer = setTimeout(() => {
      timedOut = true;
      abort(opts.timeoutReason ? opts.timeoutReason() : new DOMException(`deadline of ${opts.ms} ms exceeded`, 'TimeoutError'));
    }, opts.ms);
    timer.unref?.();
  }
  const clear = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  return {
    signal: ctl.signal,
    get aborted() {
      return abortedPromise();
    },
    timedOut: () => timedOut,
    follow,
    abort: (reason?: unknown) => abort(reason ?? new DOMException('This operation was aborted', 'AbortError')),
    clear,
    dispose: () => {
      clear();
      for (const [p, fn] of links) p.removeEventListener('abort', fn);
      links.length = 0;
    },
  };
}
