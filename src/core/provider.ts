import type { ChatRequest, RequestMeta } from './chat-request.js';
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

/**
 * One input of an embeddings request: a text, or tokens in the encoding of OpenAI's embedding
 * models (cl100k_base; a local model decodes them to text first).
 */
export type EmbedInput = string | readonly number[];

/** An embeddings request in the router's own schema (OpenAI field names are read only in src/wire). */
export interface EmbedRequest {
  /** The route name the app asked for. */
  model: string;
  /** At least one input; the answer holds one vector per input, in the same order. */
  inputs: EmbedInput[];
  /** Size of the vectors asked for (text-embedding-3 and later; a local model truncates and renormalises). */
  dimensions?: number;
  /** End-user id, forwarded for upstream abuse monitoring. */
  user?: string;
  meta: RequestMeta;
}

/** Tokens an embeddings call used (embeddings have no completion tokens). */
export interface EmbedUsage {
  promptTokens: number;
  totalTokens: number;
}

/** What a target answered to an embeddings request. */
export interface EmbedResponse {
  /** The model that answered, as the upstream names it. */
  model: string;
  /** One vector per input, in input order, as the upstream gave them (OpenAI's are L2-normalised; a local model's are made so). */
  vectors: Float32Array[];
  /** Absent when the upstream reported none (the router then estimates). */
  usage?: EmbedUsage;
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
  /** Embeddings (POST /v1/embeddings); absent: the provider serves none. Throws ProviderErrors only. */
  embed?(req: EmbedRequest, target: Target, opts: CallOptions): Promise<EmbedResponse>;
  /** The size of `model`'s vectors when the app asks for no `dimensions`, when known. */
  embeddingDimensions?(model: string): number | undefined;
  close(): Promise<void>;
}

