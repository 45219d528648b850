import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startDeadline } from '../../../src/core/deadline.js';
import { LightController, LightSignal } from '../../../src/core/light-abort.js';

type Ctl = { signal: AbortSignal; abort(reason?: unknown): void };
const kinds: Array<[string, () => Ctl]> = [
  ['node AbortController', () => new AbortController()],
  ['LightController', () => new LightController()],
];

// The same script against node's controller and the light one: what the router relies on behaves alike.
describe.each(kinds)('abort semantics: %s', (_name, make) => {
  it('calls listeners in order, once, with `this` the signal and an "abort" event; the reason is kept', () => {
    const c = make();
    const seen: string[] = [];
    let self: unknown;
    c.signal.addEventListener('abort', function (this: AbortSignal, ev: Event) {
      self = this;
      seen.push(`a:${ev.type}`);
    });
    c.signal.addEventListener('abort', () => seen.push('b'), { once: true });
    c.signal.addEventListener('abort', { handleEvent: () => seen.push('c') });
    c.abort('why');
    c.abort('again');
    expect(seen).toEqual(['a:abort', 'b', 'c']);
    expect(self).toBe(c.signal);
    expect(c.signal.aborted).toBe(true);
    expect(c.signal.reason).toBe('why');
    expect(() => c.signal.throwIfAborted()).toThrow();
  });

  it('aborts with an AbortError DOMException when given no reason', () => {
    const c = make();
    c.abort();
    expect(c.signal.reason).toBeInstanceOf(DOMException);
    expect((c.signal.reason as DOMException).name).toBe('AbortError');
  });

  it('adds a listener once however often it is added; removed, it is not called', () => {
    const c = make();
    const fn = vi.fn();
    const gone = vi.fn();
    c.signal.addEventListener('abort', fn);
    c.signal.addEventListener('abort', fn);
    c.signal.addEventListener('abort', gone);
    c.signal.removeEventListener('abort', gone);
    c.signal.removeEventListener('abort', () => {}); // not added: nothing happens
    c.abort();
    expect(fn).toHaveBeenCalledTimes(1);
    expect(gone).not.toHaveBeenCalled();
  });

  it('does not call a listener an earlier listener removed during the dispatch', () => {
    const c = make();
    const later = vi.fn();
    c.signal.addEventListener('abort', () => c.signal.removeEventListener('abort', later));
    c.signal.addEventListener('abort', later);
    c.abort();
    expect(later).not.toHaveBeenCalled();
  });

  it('never calls a listener added after the abort; onabort runs on abort', () => {
    const c = make();
    const on = vi.fn();
    c.signal.onabort = on;
    c.abort();
    const late = vi.fn();
    c.signal.addEventListener('abort', late);
    expect(on).toHaveBeenCalledTimes(1);
    expect(late).not.toHaveBeenCalled();
  });

  it('drops a listener whose `signal` option aborts', () => {
    const c = make();
    const remover = new AbortController();
    const fn = vi.fn();
    c.signal.addEventListener('abort', fn, { signal: remover.signal });
    remover.abort();
    c.abort();
    expect(fn).not.toHaveBeenCalled();
  });
});

describe('LightSignal', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reports a throwing listener as node does (uncaught, asynchronously) and still calls the others', () => {
    const reported: unknown[] = [];
    vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((fn) => {
      try {
        fn();
      } catch (err) {
        reported.push(err);
      }
    });
    const c = new LightController();
    const after = vi.fn();
    c.signal.addEventListener('abort', () => {
      throw new Error('listener bug');
    });
    c.signal.addEventListener('abort', after);
    c.abort();
    expect(after).toHaveBeenCalledTimes(1);
    expect(reported).toHaveLength(1);
    expect((reported[0] as Error).message).toBe('listener bug');
  });

  it('is what a light controller hands out; ignores other event types', () => {
    const c = new LightController();
    expect(c.signal).toBeInstanceOf(LightSignal);
    const fn = vi.fn();
    c.signal.addEventListener('other', fn);
    c.abort();
    expect(fn).not.toHaveBeenCalled();
  });
});

describe('startDeadline({ light: true })', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('expires with its timeout reason', async () => {
    const d = startDeadline({ light: true, ms: 50, timeoutReason: () => new Error('late') });
    expect(d.signal).toBeInstanceOf(LightSignal);
    vi.advanceTimersByTime(50);
    expect(d.timedOut()).toBe(true);
    expect((d.signal.reason as Error).message).toBe('late');
    await d.aborted;
  });

  it("follows a native parent and a light parent; disposed, it follows neither", () => {
    const native = new AbortController();
    const light = new LightController();
    const a = startDeadline({ light: true, parents: [native.signal] });
    const b = startDeadline({ light: true, parents: [light.signal] });
    const c = startDeadline({ parents: [b.signal] }); // a native deadline under a light one
    native.abort('n');
    light.abort('l');
    expect(a.signal.reason).toBe('n');
    expect(b.signal.reason).toBe('l');
    expect(c.signal.reason).toBe('l');
    const p = new LightController();
    const d = startDeadline({ light: true, parents: [p.signal], ms: 10 });
    d.dispose();
    p.abort('x');
    vi.advanceTimersByTime(10);
    expect(d.signal.aborted).toBe(false);
  });
});

describe('LightSignal listeners with the signal option', () => {
  it('take their listener off the option signal once removed or fired', () => {
    const remover = new AbortController();
    const a = new LightController();
    const fn = vi.fn();
    a.signal.addEventListener('abort', fn, { signal: remover.signal });
    expect(getEventListeners(remover.signal, 'abort')).toHaveLength(1);
    a.signal.removeEventListener('abort', fn);
    expect(getEventListeners(remover.signal, 'abort')).toHaveLength(0);
    const b = new LightController();
    b.signal.addEventListener('abort', fn, { signal: remover.signal });
    b.abort();
    expect(fn).toHaveBeenCalledTimes(1);
    expect(getEventListeners(remover.signal, 'abort')).toHaveLength(0);
  });
});
