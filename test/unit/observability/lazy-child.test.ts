import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { lazyChild } from '../../../src/observability/logger.js';

function capture(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level, base: { service: 't' }, timestamp: false }, sink), lines };
}

describe('lazyChild', () => {
  it('writes the lines parent.child(bindings) would, and makes the child only for a line written', async () => {
    const a = capture();
    const b = capture();
    const spy = vi.spyOn(a.logger, 'child');
    const lazy = lazyChild(a.logger, { requestId: 'r1' });
    lazy.debug('hidden');
    expect(spy).not.toHaveBeenCalled();
    lazy.info({ route: 'x' }, 'one');
    lazy.warn('two %s', 'args');
    lazy.error(new Error('boom'), 'three');
    expect(spy).toHaveBeenCalledTimes(1);
    lazy.child({ sub: 1 }).info('four');
    const real = b.logger.child({ requestId: 'r1' });
    real.debug('hidden');
    real.info({ route: 'x' }, 'one');
    real.warn('two %s', 'args');
    real.error(new Error('boom'), 'three');
    real.child({ sub: 1 }).info('four');
    await new Promise((r) => setImmediate(r));
    const strip = (l: Record<string, unknown>) => ({ ...l, err: l.err ? { ...(l.err as object), stack: undefined } : undefined });
    expect(a.lines.map(strip)).toEqual(b.lines.map(strip));
    expect(a.lines.map((l) => l.msg)).toEqual(['one', 'two args', 'three', 'four']);
    expect(lazy.isLevelEnabled('debug')).toBe(false);
    expect(lazy.level).toBe('info');
  });
});
