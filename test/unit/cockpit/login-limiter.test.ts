import { describe, expect, it } from 'vitest';
import { createLoginLimiter } from '../../../src/cockpit/login-limiter.js';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('dashboard login limiter', () => {
  it('locks a client out after its failures until the window ends', () => {
    const c = clock();
    const l = createLoginLimiter({ perClient: 3, windowMs: 60_000, now: c.now });
    for (let i = 0; i < 3; i++) {
      expect(l.check('1.2.3.4').ok).toBe(true);
      l.failed('1.2.3.4');
    }
    c.advance(10_000);
    expect(l.check('1.2.3.4')).toEqual({ ok: false, retryAfterMs: 50_000 });
    expect(l.check('5.6.7.8').ok).toBe(true);
    c.advance(50_000);
    expect(l.check('1.2.3.4').ok).toBe(true);
  });

  it('clears a client after a success', () => {
    const l = createLoginLimiter({ perClient: 2 });
    l.failed('a');
    l.succeeded('a');
    l.failed('a');
    expect(l.check('a').ok).toBe(true);
  });

  it('locks everyone out once the overall allowance is spent (a guesser on many addresses)', () => {
    const c = clock();
    const l = createLoginLimiter({ perClient: 100, overall: 10, windowMs: 1_000, now: c.now });
    for (let i = 0; i < 10; i++) l.failed(`10.0.0.${i}`);
    expect(l.check('192.168.1.1').ok).toBe(false);
    c.advance(1_000);
    expect(l.check('192.168.1.1').ok).toBe(true);
  });

  it('remembers a bounded number of clients', () => {
    const l = createLoginLimiter({ perClient: 1, overall: 1e9, maxClients: 2 });
    l.failed('a');
    l.failed('b');
    l.failed('c'); // a is forgotten
    expect(l.check('a').ok).toBe(true);
    expect(l.check('b').ok).toBe(false);
    expect(l.check('c').ok).toBe(false);
  });
});
