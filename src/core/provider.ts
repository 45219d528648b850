import type { ChatRequest } from './chat-request.js';
import type { ChatResponse, ChatStream } from './chat-response.js';

/** A provider instance + model pair a route can send to. */
export interface Target {
  /** Provider instance id from config. */
  provider: string;
  /** Model name as the provider knows it (OpenAI model, Azure model mapped to a deployment, local registry id). */
  model: string;
}

/** What a target can do; the router skips targets a request cannot fit. */
export interface Capabilities {
  tools: boolean;
  jsonObject: boolean;
  jsonSchema: boolean;
  /** Context window in tokens, when known. */
  contextLength?: number;
  /** Largest `n` supported. */
  maxChoices: number;
  /** Accepts image content parts. */
  vision: boolean;
  /** Drops old turns itself to fit its context, so the router need not skip it for length. */
  compactsHistory?: boolean;
}

export interface CallOptions {
  signal: AbortSignal;
}

/** Per-target notes the provider returns with an answer (e.g. "history compacted"). */
export interface CallNotes {
  /** Extra response headers to send to the app. */
  headers?: Record<string, string>;
}

export interface HealthReport {
  ok: boolean;
  /** Short human-readable detail; never contains secrets. */
  detail?: string;
  latencyMs?: number;
  [key: string]: unknown;
}

/** The contract every adapter implements. src/ knows only this. */
export interface Provider {
  /** Instance name from config, e.g. "azure-east". */
  readonly id: string;
  readonly kind: string;
  capabilities(model: string): Capabilities;
  chat(req: ChatRequest, target: Target, opts: CallOptions): Promise<ChatResponse & { notes?: CallNotes }>;
  /** Resolves once the upstream accepted the call; failures after that surface from the iterator. */
  stream(req: ChatRequest, target: Target, opts: CallOptions): Promise<ChatStream & { notes?: CallNotes }>;
  /** Cheap probe used by health checks. */
  health(model?: string): Promise<HealthReport>;
  close(): Promise<void>;
}

