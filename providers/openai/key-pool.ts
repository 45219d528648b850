/**
 * Several API keys of one provider used in turn. A key that answers 401 (revoked) or 429
 * (rate limited, quota used up) is rested so the next calls go to the other keys, and one
 * call moves on to the next key before giving up: the router only sees the provider fail
 * when every key did.
 */
import { ProviderError } from '../../src/core/provider-error.js';

export interface KeyPoolOptions<K> {
  providerId: string;
  /** One entry per key (a key string, or a client built for it). */
  keys: readonly K[];
  /** How long a key that answered 401/429 is set aside. */
  cooldownMs: number;
  /** Injected clock (ms); tests move time by hand. */
  now?: () => number;
  /** Told when a key is rested; gets the key's position, never the key. */
  onRest?: (info: { index: number; restMs: number; error: ProviderError }) => void;
}

export interface KeyLease<K> {
  index: number;
  key: K;
}

/** Whether an error means "this key, not the provider": the next key may succeed. */
export function isKeyScopedFailure(err: ProviderError): boolean {
  return err.status === 401 || err.status === 429;
}

export class KeyPool<K> {
  private readonly restingUntil: number[];
  private cursor = 0;
  private readonly now: () => number;

  constructor(private readonly opts: KeyPoolOptions<K>) {
    if (opts.keys.length === 0) throw new Error(`provider "${opts.providerId}": a key pool needs at least one key`);
    this.restingUntil = opts.keys.map(() => 0);
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.opts.keys.length;
  }

  /** Whether key `index` is resting now. */
  isResting(index: number): boolean {
    return (this.restingUntil[index] ?? 0) > this.now();
  }

  /** The next usable key in round-robin order, skipping resting keys and `exclude`. */
  acquire(exclude: ReadonlySet<number> = new Set()): KeyLease<K> | undefined {
    const n = this.opts.keys.length;
    for (let step = 0; step < n; step++) {
      const index = (this.cursor + step) % n;
      if (exclude.has(index) || this.isResting(index)) continue;
      this.cursor = (index + 1) % n;
      return { index, key: this.opts.keys[index]! };
    }
    return undefined;
  }

  /** A usable key without moving the round-robin cursor (health probes). */
  peek(): KeyLease<K> | undefined {
    const n = this.opts.keys.length;
    for (let step = 0; step < n; step++) {
      const index = (this.cursor + step) % n;
      if (!this.isResting(index)) return { index, key: this.opts.keys[index]! };
    }
    return undefined;
  }

  /**
   * Sets key `index` aside: for as long as the upstream asked (its retry-after knows the
   * quota window better than we do), else for the configured cooldown (a refused key, or a
   * 429 that gave no hint).
   */
  rest(index: number, error: ProviderError): number {
    const restMs = error.retryAfterMs ?? this.opts.cooldownMs;
    this.restingUntil[index] = Math.max(this.restingUntil[index] ?? 0, this.now() + restMs);
    this.opts.onRest?.({ index, restMs, error });
    return restMs;
  }

  /** Milliseconds until the first resting key is usable again (0 when one is usable now). */
  msUntilFree(): number {
    const t = this.now();
    return Math.max(0, Math.min(...this.restingUntil.map((u) => u - t)));
  }

  /** The error a call gets when every key is resting: the router should look elsewhere. */
  allRestingError(): ProviderError {
    const n = this.opts.keys.length;
    const id = this.opts.providerId;
    return new ProviderError({
      kind: 'rate_limit',
      provider: id,
      // How many keys the router holds is the operator's business, not the app's.
      message: `provider ${id} is rate limiting`,
      detail: `${id}: ${n === 1 ? 'the API key is' : `all ${n} API keys are`} resting after 401/429 answers`,
      retryAfterMs: this.msUntilFree(),
    });
  }

  /**
   * Runs one logical call, trying the next available key when a key fails with 401/429.
   * `call` must throw ProviderErrors (classified); other failures end the call at once.
   * When every key failed, the last key's error is thrown: it says what the upstream said.
   */
  async run<T>(call: (lease: KeyLease<K>) => Promise<T>): Promise<T> {
    const tried = new Set<number>();
    let last: ProviderError | undefined;
    for (;;) {
      const lease = this.acquire(tried);
      if (!lease) throw last ?? this.allRestingError();
      tried.add(lease.index);
      try {
        return await call(lease);
      } catch (err) {
        if (!(err instanceof ProviderError) || !isKeyScopedFailure(err)) throw err;
        this.rest(lease.index, err);
        last = err;
      }
    }
  }
}
