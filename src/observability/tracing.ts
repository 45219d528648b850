/**
 * OpenTelemetry traces, when `tracing.otlpEndpoint` is set: one span per request (kind server,
 * the parent from the app's W3C `traceparent`), child spans for the policies it ran through and
 * one per upstream attempt (provider, model, outcome, retry, fallback), named and attributed
 * after the GenAI semantic conventions. Exported over OTLP/HTTP in batches. Off: `tracing` is
 * undefined and the request path does nothing at all.
 *
 * This module holds the config schema and the interfaces only; the OpenTelemetry SDK (api, core,
 * resources, sdk-trace-base, the OTLP exporter: ~4 MiB of the router's idle RSS) lives in
 * otel-tracing.ts and is imported the first time a config sets an endpoint, never by a router
 * that does not trace.
 */
import type { Attributes } from '@opentelemetry/api';
import { z } from 'zod';
import type { Attempt } from '../routing/attempts.js';

export const tracingSchema = z.strictObject({
  otlpEndpoint: z.string().url().optional().describe('OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces; absent: no tracing (and no cost).'),
  serviceName: z.string().min(1).default('llm-router').describe('service.name of the spans.'),
  sampleRatio: z.number().min(0).max(1).default(1).describe('Share of requests traced when the app sent no sampled traceparent (a sampled parent is always followed).'),
  headers: z.record(z.string(), z.string()).default({}).describe('Headers sent with each export (e.g. an API key of the collector: use ${ENV}).'),
});

export type TracingConfig = z.output<typeof tracingSchema>;

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

/**
 * The tracing of a config, or undefined when it has no endpoint (then nothing is imported). The
 * SDK is imported on the first call with an endpoint; later calls reuse it.
 */
export async function createTracing(cfg: TracingConfig): Promise<Tracing | undefined> {
  if (!cfg.otlpEndpoint) return undefined;
  const { createOtelTracing } = await import('./otel-tracing.js');
  return createOtelTracing({ ...cfg, otlpEndpoint: cfg.otlpEndpoint });
}
