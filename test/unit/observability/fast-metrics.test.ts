import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastCounter, FastHistogram, boundCounter } from '../../../src/observability/fast-metrics.js';
import { createMetrics } from '../../../src/observability/metrics.js';

function pair() {
  const mk = () => {
    const registry = new Registry();
    const counter = new Counter({ name: 't_requests_total', help: 'h', labelNames: ['route', 'provider', 'outcome'] as const, registers: [registry] });
    const histogram = new Histogram({ name: 't_latency_seconds', help: 'h', labelNames: ['stream', 'route'] as const, buckets: [0.01, 0.1, 1], registers: [registry] });
    return { registry, counter, histogram };
  };
  return { slow: mk(), fast: mk() };
}

// The router's label values in the order the metrics declare them, as the chat path passes them
// (exposition shows labels in that order: the slow side's objects list them so too).
const calls: Array<[string, string, string, number]> = [
  ['bench', 'openai', 'ok', 0.004],
  ['bench', 'openai', 'ok', 0.05],
  ['bench', 'azure', 'stream_server', 0.5],
  ['other', 'openai', 'ok', 0.1], // on a bucket bound: counted in that bucket
  ['bench', 'openai', 'ok', 7], // above the last bound: only +Inf and the count
  ['bench', 'open,ai:x', 'ok', 0.2], // characters of prom-client's own hash format
];

describe('FastCounter / FastHistogram', () => {
  it('expose exactly what prom-client inc/observe expose for the same calls', async () => {
    const { slow, fast } = pair();
    const fc = new FastCounter(fast.counter);
    const fh = new FastHistogram(fast.histogram);
    for (const [route, provider, outcome, v] of calls) {
      slow.counter.inc({ route, provider, outcome }, 2);
      slow.histogram.observe({ stream: 'false', route }, v);
      fc.inc([route, provider, outcome], 2);
      fh.observe(['false', route], v);
    }
    expect(await fast.registry.metrics()).toBe(await slow.registry.metrics());
    expect(await fast.registry.metrics()).toContain('t_requests_total{route="bench",provider="openai",outcome="ok"} 6');
  });

  it('keep counting right after a reset and after a series is removed', async () => {
    const { slow, fast } = pair();
    const fc = new FastCounter(fast.counter);
    const fh = new FastHistogram(fast.histogram);
    const both = (route: string, v: number) => {
      slow.counter.inc({ route, provider: 'p', outcome: 'ok' });
      slow.histogram.observe({ stream: 'true', route }, v);
      fc.inc([route, 'p', 'ok']);
      fh.observe(['true', route], v);
    };
    both('a', 0.2);
    both('b', 0.02);
    slow.registry.resetMetrics();
    fast.registry.resetMetrics();
    both('a', 0.3);
    slow.counter.remove({ route: 'b', provider: 'p', outcome: 'ok' });
    fast.counter.remove({ route: 'b', provider: 'p', outcome: 'ok' });
    both('b', 2);
    both('b', 0.001);
    expect(await fast.registry.metrics()).toBe(await slow.registry.metrics());
  });

  it('refuse what prom-client refuses: a bad value, a decrease, the wrong number of labels', () => {
    const { fast } = pair();
    const fc = new FastCounter(fast.counter);
    const fh = new FastHistogram(fast.histogram);
    expect(() => fc.inc(['a', 'b', 'c'], Number.NaN)).toThrow(/not a valid number/);
    expect(() => fc.inc(['a', 'b', 'c'], -1)).toThrow(/decrease/);
    expect(() => fh.observe(['a', 'b'], Number.POSITIVE_INFINITY)).toThrow(/not a valid number/);
    expect(() => fc.inc(['a', 'b'])).toThrow(/3 label values/);
  });

  it("are the router's own metrics' hot side (createMetrics().hot)", async () => {
    const m = createMetrics();
    m.hot.requests.inc(['bench', 'openai', 'ok', 'false']);
    m.hot.latency.observe(['bench', 'openai', 'false'], 0.02);
    m.hot.tokens.inc(['bench', 'openai', 'prompt', 'live'], 12);
    const text = await m.registry.metrics();
    expect(text).toContain('llm_router_requests_total{route="bench",provider="openai",outcome="ok",stream="false"} 1');
    expect(text).toContain('llm_router_request_duration_seconds_count{route="bench",provider="openai",stream="false"} 1');
    expect(text).toContain('llm_router_tokens_total{route="bench",provider="openai",type="prompt",traffic="live"} 12');
  });
});

describe('boundCounter', () => {
  it("counts as prom-client's labels(…).inc does, through resets and removes, in the labels' own key order", async () => {
    const { slow, fast } = pair();
    const labels = { outcome: 'ok', route: 'r', provider: 'p' };
    const s = slow.counter.labels(labels);
    const f = boundCounter(fast.counter, { ...labels });
    for (const v of [1, 0, 2.5]) {
      s.inc(v);
      f.inc(v);
    }
    slow.registry.resetMetrics();
    fast.registry.resetMetrics();
    s.inc();
    f.inc();
    slow.counter.remove(labels);
    fast.counter.remove(labels);
    s.inc(3);
    f.inc(3);
    expect(await fast.registry.metrics()).toBe(await slow.registry.metrics());
    expect(() => f.inc(-1)).toThrow(/decrease/);
  });
});
