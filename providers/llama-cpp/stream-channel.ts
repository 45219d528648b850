/**
 * A single-consumer async queue: the worker's IPC handler pushes events as they arrive and the
 * provider's stream iterates them. Ending iteration early (break, return()) calls `onCancel`,
 * which aborts the generation so its sequence is freed at once.
 */
export class StreamChannel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter?: { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void };
  private ended = false;
  private failure?: { error: unknown };
  private consumed = false;

  constructor(private readonly onCancel?: () => void) {}

  /** True once end() or fail() was called, or the consumer stopped. */
  get closed(): boolean {
    return this.ended || this.failure !== undefined;
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  end(): void {
    if (this.closed) return;
    this.ended = true;
    this.settleWaiter();
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.failure = { error };
    this.settleWaiter();
  }

  private settleWaiter(): void {
    if (!this.waiter || this.items.length > 0) return;
    const { resolve, reject } = this.waiter;
    this.waiter = undefined;
    if (this.failure) reject(this.failure.error);
    else resolve({ value: undefined, done: true });
  }

  private next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.consumed) throw new Error('StreamChannel supports a single consumer');
    this.consumed = true;
    return {
      next: () => this.next(),
      return: async () => {
        if (!this.closed) {
          this.ended = true;
          this.items.length = 0;
          this.onCancel?.();
        }
        return { value: undefined, done: true };
      },
    };
  }
}
