/**
 * OpenTelemetry traces, when `tracing.otlpEndpoint` is set: one span per request (kind server,
 * the parent from the app's W3C `traceparent`), child spans for the policies it ran through and
 * one per upstream attempt (provider, model, outcome, retry, fallback), named and attributed
 * after the GenAI semantic conventions. Exported over OTLP/HTTP in batches. Off: `tracing` is
 * undefined and the request path does nothing at all.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import type { Attempt } from '../routing/attempts.js';

export const tracingSchema = z.strictObject({
  otlpEndpoint: z.string().url().optional().describe('OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces; absent: no tracing (and no cost).'),
  serviceName: z.string().min(1).default('llm-router').describe('service.name of the spans.'),
  sampleRatio: z.number().min(0).max(1).default(1).describe('Share of requests traced when the app sent no sampled traceparent (a sampled parent is always followed).'),
  headers: z.record(z.string(), z.string()).default({}).describe('Headers sent with each export (e.g. an API key of the collector: use ${ENV}).'),
});

export type TracingConfig = z.output<typeof tracingSchema>;

const propagator = new W3CTraceContextPropagator();
const getter = {
  keys: (c: Record<string, string | string[] | undefined>) => Object.keys(c),
  get: (c: Record<string, string | string[] | undefined>, k: string) => c[k],
};

/** One traced request. */
export interface RequestTrace {
  /** The `traceparent` to send upstream (the request span as parent). */
  traceparent(): string | undefined;
  /** Runs `fn` inside a child span named `name` (a policy step). */
  step<T>(name: string, fn: () => Promise<T> | T, attributes?: Attributes): Promise<T>;
  /** One span per upstream call, from the dispatcher's record (times included). */
  attempts(attempts: readonly Attempt[]): void;
  set(attributes: Attributes): void;
  end(outcome: string, error?: boolean): void;
}

export interface Tracing {
  start(name: string, headers: Record<string, string | string[] | undefined>, attributes: Attributes): RequestTrace;
  shutdown(): Promise<void>;
}

const epochMs = (perfMs: number) => performance.timeOrigin + perfMs;

/** The tracing of a config, or undefined when it has no endpoint. */
export function createTracing(cfg: TracingConfig): Tracing | undefined {
  if (!cfg.otlpEndpoint) return undefined;
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
