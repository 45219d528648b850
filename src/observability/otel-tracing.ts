/**
 * The OpenTelemetry side of tracing.ts (imported by it only when a config sets
 * `tracing.otlpEndpoint`): the tracer provider, the W3C propagator, the OTLP/HTTP exporter.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import type { Tracing, TracingConfig } from './tracing.js';

const propagator = new W3CTraceContextPropagator();
const getter = {
  keys: (c: Record<string, string | string[] | undefined>) => Object.keys(c),
  get: (c: Record<string, string | string[] | undefined>, k: string) => c[k],
};

const epochMs = (perfMs: number) => performance.timeOrigin + perfMs;

/** The tracing of a config with an endpoint (see createTracing in tracing.ts). */
export function createOtelTracing(cfg: TracingConfig & { otlpEndpoint: string }): Tracing {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': cfg.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(cfg.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: cfg.otlpEndpoint, headers: cfg.headers }), { scheduledDelayMillis: 1_000, maxQueueSize: 4_096 })],
  });
  const tracer: Tracer = provider.getTracer('llm-router');
  return {
    start(name, headers, attributes) {
      const parent = propagator.extract(ROOT_CONTEXT, headers, getter);
      const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
      const ctx: Context = trace.setSpan(parent, span);
      return {
        traceparent() {
          const carrier: Record<string, string> = {};
          propagator.inject(ctx, carrier, { set: (c, k, v) => (c[k] = v) });
          return carrier.traceparent;
        },
        async step(stepName, fn, attrs) {
          const child = tracer.startSpan(stepName, { kind: SpanKind.INTERNAL, ...(attrs ? { attributes: attrs } : {}) }, ctx);
          try {
            return await context.with(trace.setSpan(ctx, child), fn);
          } catch (err) {
            child.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name ?? 'error' });
            throw err;
          } finally {
            child.end();
          }
        },
        attempts(list) {
          list.forEach((a, i) => {
            const start = a.startedAt !== undefined ? epochMs(a.startedAt) : Date.now() - a.ms;
            const prev = list[i - 1];
            const s: Span = tracer.startSpan(
              `chat ${a.model}`,
              {
                kind: SpanKind.CLIENT,
                startTime: start,
                attributes: {
                  'gen_ai.operation.name': 'chat',
                  'gen_ai.request.model': a.model,
                  'gen_ai.provider.name': a.provider,
                  'llm_router.attempt': i + 1,
                  'llm_router.outcome': a.outcome,
                  'llm_router.retry': prev !== undefined && prev.provider === a.provider && prev.model === a.model,
                  'llm_router.fallback': prev !== undefined && (prev.provider !== a.provider || prev.model !== a.model),
                  ...(a.outcome !== 'ok' ? { 'error.type': a.outcome } : {}),
                },
              },
              ctx,
            );
            if (a.outcome !== 'ok') s.setStatus({ code: SpanStatusCode.ERROR, message: a.outcome });
            s.end(start + a.ms);
          });
        },
        set(attrs) {
          span.setAttributes(attrs);
        },
        end(outcome, error) {
          span.setAttribute('llm_router.outcome', outcome);
          if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
          span.end();
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}

/** For tests and the README: the propagation API in use. */
export { propagation };
