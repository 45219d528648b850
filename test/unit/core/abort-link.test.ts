import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { linkAbort } from '../../../src/core/abort-link.js';

describe('linkAbort', () => {
  it('passes the abort and its reason on, until unlinked; an aborted source aborts at once', () => {
    const source = new AbortController();
    const target = new AbortController();
    const unlink = linkAbort(target, source.signal);
    expect(getEventListeners(source.signal, 'abort')).toHaveLength(1);
    source.abort('why');
    expect(target.signal.aborted).toBe(true);
    expect(target.signal.reason).toBe('why');
    unlink();

    const s2 = new AbortController();
    const t2 = new AbortController();
    linkAbort(t2, s2.signal)();
    expect(getEventListeners(s2.signal, 'abort')).toHaveLength(0);
    s2.abort();
    expect(t2.signal.aborted).toBe(false);

    const t3 = new AbortController();
    linkAbort(t3, AbortSignal.abort('gone'));
    expect(t3.signal.reason).toBe('gone');
    expect(() => linkAbort(new AbortController(), undefined)()).not.toThrow();
  });
});
