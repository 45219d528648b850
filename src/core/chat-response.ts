import type { ToolCall } from './chat-request.js';

/** Why generation ended, OpenAI's vocabulary. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

/** Token usage as reported by the model that served the request. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Provider-specific breakdowns (cached tokens, reasoning tokens), passed through. */
  promptTokensDetails?: Record<string, unknown>;
  completionTokensDetails?: Record<string, unknown>;
}

/** One generated alternative. */
export interface ChatChoice {
  index: number;
  message: {
    content: string | null;
    toolCalls?: ToolCall[];
    refusal?: string | null;
    /** Extra assistant-message fields an upstream returned (audio, annotations), passed through. */
    extra?: Record<string, unknown>;
  };
  finishReason: FinishReason;
  logprobs?: unknown;
  /** Azure content-filter results for this choice, when the provider reports them. */
  contentFilterResults?: Record<string, unknown>;
}

/** A complete, non-streamed answer. */
export interface ChatResponse {
  /** Upstream completion id when it has one. */
  id?: string;
  /** The real model that answered. */
  model: string;
  created?: number;
  choices: ChatChoice[];
  usage?: Usage;
  systemFingerprint?: string | null;
  serviceTier?: string | null;
  /** Azure prompt-filter results, when the provider reports them. */
  promptFilterResults?: unknown[];
}

/** A partial tool call in a streamed delta. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

/** One event of a streamed answer. */
export type ChatChunk =
  | {
      type: 'delta';
      /** Choice index (non-zero only when n > 1). */
      index: number;
      text?: string;
      toolCalls?: ToolCallDelta[];
      refusal?: string;
      logprobs?: unknown;
    }
  | { type: 'finish'; index: number; finish: FinishReason; contentFilterResults?: Record<string, unknown> }
  | { type: 'usage'; usage: Usage };

/** A streamed answer: who answers, then the chunks. */
export interface ChatStream {
  /** Upstream completion id when it has one. */
  id?: string;
  /** The real model that answers. */
  model: string;
  systemFingerprint?: string | null;
  /** Azure prompt-filter results, sent to the app on the first chunk. */
  promptFilterResults?: unknown[];
  chunks: AsyncIterable<ChatChunk>;
}
