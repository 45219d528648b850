/**
 * The JSON messages the router (parent) and a model worker process exchange over Node's IPC
 * channel. Shared by both sides so that a change to one side fails to type-check on the other.
 *
 * Start: worker hello ─▶ parent init ─▶ worker ready (bindings up) [─▶ loaded when loadNow].
 * The parent sends requests only after ready, so nothing can be lost while the worker boots.
 *
 * Lifecycle of one request, by id:
 *   parent: generate ─▶ worker: started (sequence taken, prompt fitted) ─▶ token* ─▶ done | error
 *   parent: abort    ─▶ worker stops at the next token, frees the sequence ─▶ error{aborted}
 * Every generate gets exactly one terminal message (done | error) and the worker sends it only
 * after the request's sequence is disposed, so the parent may reuse the slot on receipt.
 *
 * Embeddings, batched: parent: embed{items} ─▶ worker, per item: embedded | error (by item id).
 *   parent: abort{id} of an item ─▶ the worker stops before its next text ─▶ error{aborted}
 * Item ids come from the same counter as generate ids, so the two never collide.
 */
import type { FinishReason } from '../../src/core/chat-response.js';

/** What a worker needs to serve one model; fixed for the worker's life. */
export interface WorkerModelSpec {
  /** Registry id, used in messages. */
  id: string;
  /** Absolute path of the GGUF file. */
  path: string;
  /** Tokens per sequence. */
  contextSize: number;
  threads: number;
  /** Sequences in the one context (requests served together). */
  parallel: number;
  /** A node-llama-cpp chat wrapper name (e.g. "chatML") or a Jinja template; absent: from the GGUF. */
  chatTemplate?: string;
}

/** One conversation turn after prompt adaptation (tool results are already rendered as text). */
export interface WorkerTurn {
  role: 'system' | 'user' | 'assistant';
  text: string;
}

export interface WorkerToolDef {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export type WorkerFormat = { type: 'json_object' } | { type: 'json_schema'; schema: Record<string, unknown> };

export interface GenerateParams {
  /** Already capped by the provider's maxTokensCap; absent: up to the end of the context. */
  maxTokens?: number;
  temperature: number;
  topP?: number;
  topK?: number;
  minP?: number;
  seed?: number;
  stop?: string[];
  presencePenalty?: number;
  frequencyPenalty?: number;
  format?: WorkerFormat;
  tools?: WorkerToolDef[];
}

export interface WorkerUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface WorkerToolCall {
  name: string;
  /** JSON text of the arguments. */
  arguments: string;
}

/** One embeddings request inside an `embed` message: its texts, embedded in order. */
export interface WorkerEmbedItem {
  id: number;
  texts: string[];
}

/** Terminal error kinds a worker reports; the parent maps them to ProviderError kinds. */
export type WorkerErrorKind = 'server' | 'invalid_request' | 'aborted';

export type ParentMessage =
  | { t: 'init'; spec: WorkerModelSpec; loadNow: boolean }
  | { t: 'generate'; id: number; turns: WorkerTurn[]; params: GenerateParams }
  | { t: 'abort'; id: number }
  /** Requests that arrived together, answered in one round trip (each item gets its own terminal message). */
  | { t: 'embed'; items: WorkerEmbedItem[] }
  | { t: 'health'; nonce: number }
  | { t: 'shutdown' };

export type WorkerMessage =
  /** The worker's message handler is installed; the parent may send init. */
  | { t: 'hello'; pid: number }
  /** Bindings are up; the worker accepts requests. */
  | { t: 'ready' }
  | { t: 'loaded'; loadMs: number; contextSize: number; chatWrapper: string }
  | { t: 'load_failed'; message: string }
  /** The request holds a sequence and its prompt fits; `dropped` messages were compacted away. */
  | { t: 'started'; id: number; promptTokens: number; dropped: number }
  | { t: 'token'; id: number; text: string }
  | { t: 'done'; id: number; finish: FinishReason; usage: WorkerUsage; toolCalls?: WorkerToolCall[] }
  | { t: 'error'; id: number; kind: WorkerErrorKind; message: string }
  /**
   * One embed item's vectors, raw as the model pools them (the parent normalises): base64 of
   * little-endian float32; `tokens` counted by the model's tokenizer; `size` the model's vector size.
   */
  | { t: 'embedded'; id: number; vectors: string[]; tokens: number; size: number }
  | { t: 'health'; nonce: number; loaded: boolean; running: number; loadError?: string }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string };

/** Narrow an unknown IPC payload to a WorkerMessage without trusting it blindly. */
export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}

export function isParentMessage(value: unknown): value is ParentMessage {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}
