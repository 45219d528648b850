import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startDeadline } from '../../../src/core/deadline.js';

describe('startDeadline', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('aborts on expiry with the timeout reason, and says it timed out', async () => {
    const d = startDeadline({ ms: 100, timeoutReason: () => new Error('late') });
    vi.advanceTimersByTime(99);
    expect(d.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(d.signal.aborted).toBe(true);
    expect((d.signal.reason as Error).message).toBe('late');
    expect(d.timedOut()).toBe(true);
    await d.aborted;
  });

  it("follows a parent's abort with its reason (or a mapped one), not as a timeout", () => {
    const parent = new AbortController();
    const d = startDeadline({ parents: [parent.signal], ms: 100 });
    parent.abort('gone');
    expect(d.signal.reason).toBe('gone');
    expect(d.timedOut()).toBe(false);
    const p2 = new AbortController();
    const m = startDeadline({ parents: [p2.signal], parentReason: (r) => `mapped:${String(r)}` });
    p2.abort('x');
    expect(m.signal.reason).toBe('mapped:x');
  });

  it('plain: aborts without a reason whatever the parent gave', () => {
    const parent = new AbortController();
    const d = startDeadline({ parents: [parent.signal], plain: true });
    parent.abort(new Error('custom'));
    expect((d.signal.reason as DOMException).name).toBe('AbortError');
  });

  it('clear stops the timer but keeps parents; dispose unlinks them', () => {
    const parent = new AbortController();
    const d = startDeadline({ parents: [parent.signal], ms: 10 });
    d.clear();
    vi.advanceTimersByTime(1000);
    expect(d.signal.aborted).toBe(false);
    d.dispose();
    parent.abort();
    expect(d.signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('follow links a parent added later', () => {
    const d = startDeadline({});
    const later = new AbortController();
    d.follow(later.signal);
    later.abort('now');
    expect(d.signal.reason).toBe('now');
  });
});

describe('startDeadline as a request signal that follows another', () => {
  it('passes the abort and its reason on, until disposed; an aborted parent aborts at once; no listener is left', () => {
    const source = new AbortController();
    const d = startDeadline({ parents: [source.signal] });
    expect(getEventListeners(source.signal, 'abort')).toHaveLength(1);
    source.abort('why');
    expect(d.signal.aborted).toBe(true);
    expect(d.signal.reason).toBe('why');
    d.dispose();

    const s2 = new AbortController();
    const d2 = startDeadline({ parents: [s2.signal] });
    d2.dispose();
    expect(getEventListeners(s2.signal, 'abort')).toHaveLength(0);
    s2.abort();
    expect(d2.signal.aborted).toBe(false);

    const d3 = startDeadline({ parents: [AbortSignal.abort('gone')] });
    expect(d3.signal.reason).toBe('gone');
    expect(() => startDeadline({ parents: [undefined] }).dispose()).not.toThrow();
  });
});
