import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { reasonOf } from '../../../src/cockpit/target-summary.js';
import { createTransitionLog } from '../../../src/cockpit/transition-log.js';
import { A, fail, flush, setup } from '../health/helpers.js';

describe('transition log', () => {
  let env: ReturnType<typeof setup>;
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2025-01-01T00:00:00Z'), toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    env = setup();
  });
  afterEach(() => {
    env.gate.close();
    vi.useRealTimers();
  });

  it('records what changed between two readings of the gate, with the reason, newest first', async () => {
    const log = createTransitionLog();
    log.observe(env.gate.targets());
    expect(log.entries()).toEqual([]);
    vi.setSystemTime(new Date('2025-01-01T00:00:05Z'));
    for (let i = 0; i < 4; i++) env.gate.record('chat', A, fail('server'));
    await flush();
    log.observe(env.gate.targets());
    log.observe(env.gate.targets()); // nothing new
    vi.setSystemTime(new Date('2025-01-01T00:00:07Z'));
    env.gate.drain('a', 'm', { by: 'dashboard:key-0', reason: 'incident 42' });
    log.observe(env.gate.targets());
    expect(log.entries()).toEqual([
      { at: Date.parse('2025-01-01T00:00:07Z'), provider: 'a', model: 'm', from: 'open', to: 'drained', reason: 'drained by dashboard:key-0: incident 42' },
      { at: Date.parse('2025-01-01T00:00:05Z'), provider: 'a', model: 'm', from: 'healthy', to: 'open', reason: 'live server: a: scripted server' },
    ]);
    expect(log.previousState('a', 'm')).toBe('open');
    env.gate.release('a', 'm');
    log.observe(env.gate.targets());
    expect(log.entries()[0]).toMatchObject({ from: 'drained', to: 'open', reason: 'released by an operator: probes resume' });
  });

  it('notes a round trip between two readings (same state, new since) and targets first seen cut off', () => {
    const log = createTransitionLog();
    env.gate.drain('a', 'm');
    log.observe(env.gate.targets());
    expect(log.entries()).toEqual([expect.objectContaining({ from: null, to: 'drained', provider: 'a' })]);
    vi.setSystemTime(new Date('2025-01-01T00:00:03Z'));
    env.gate.restore('a', 'm');
    vi.setSystemTime(new Date('2025-01-01T00:00:04Z'));
    env.gate.drain('a', 'm');
    log.observe(env.gate.targets());
    expect(log.entries()[0]).toMatchObject({ from: 'drained', to: 'drained', at: Date.parse('2025-01-01T00:00:04Z') });
  });

  it('keeps a bounded number of entries', () => {
    const log = createTransitionLog(3);
    for (let i = 0; i < 5; i++) {
      vi.setSystemTime(new Date(Date.parse('2025-01-01T00:01:00Z') + i * 1000));
      if (i % 2) env.gate.restore('a', 'm');
      else env.gate.drain('a', 'm');
      log.observe(env.gate.targets());
    }
    expect(log.entries()).toHaveLength(3);
    expect(log.entries()[0]!.to).toBe('drained');
  });

  it('says why a target is healthy again', () => {
    const view = env.gate.targets()[0]!;
    expect(reasonOf(view)).toBe('taking traffic');
    expect(reasonOf(view, 'probation')).toBe('promoted: enough good calls in probation');
    expect(reasonOf(view, 'open')).toBe('restored by an operator');
  });
});
