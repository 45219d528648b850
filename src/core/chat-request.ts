/** The router's internal request schema. OpenAI field names are read only in src/wire. */

/** A content part of a message. Text is modelled; every other part (image_url, input_audio, file…) is kept verbatim for upstreams that understand it. */
export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } }
  | { type: string; [key: string]: unknown };

/** A tool call made by the assistant. */
export interface ToolCall {
  /** Call id the `tool` message answers. */
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One message of the conversation, OpenAI semantics. */
export type ChatMessage =
  | { role: 'system' | 'developer'; content: string | ContentPart[]; name?: string }
  | { role: 'user'; content: string | ContentPart[]; name?: string }
  | {
      role: 'assistant';
      content: string | ContentPart[] | null;
      name?: string;
      toolCalls?: ToolCall[];
      refusal?: string | null;
    }
  | { role: 'tool'; content: string | ContentPart[]; toolCallId: string }
  | { role: 'function'; content: string | null; name: string };

/** A function tool the model may call. */
export interface ToolDef {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

/** How the model may use tools. */
export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

/** Requested output format. */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; jsonSchema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string } };

/** Sampling and length parameters the router understands. */
export interface ChatParams {
  /** Upper bound on generated tokens. */
  maxTokens?: number;
  /** Which wire field carried `maxTokens`, so OpenAI-style upstreams get the one the app chose. */
  maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  temperature?: number;
  topP?: number;
  /** Stop sequences (normalised to an array). */
  stop?: string[];
  seed?: number;
  /** Number of choices to generate. */
  n?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  responseFormat?: ResponseFormat;
  parallelToolCalls?: boolean;
  /** End-user id, forwarded for upstream abuse monitoring. */
  user?: string;
}

/** Request metadata set by the edge. */
export interface RequestMeta {
  requestId: string;
  apiKeyId?: string;
  sessionId?: string;
  /** performance.now() when the request arrived. */
  receivedAt: number;
  /**
   * Set by the input filters when the prompt carries PII of a route's privacy kinds: the
   * request may only go to targets of these trust levels (and is never shadow-copied).
   */
  privacy?: { kinds: string[]; allow: string[] };
  /**
   * The messages hold a stored conversation (a session): when they do not fit a target's
   * context, the oldest turns are dropped even on a route without `truncation`.
   */
  fitHistory?: boolean;
  /** W3C traceparent for upstream calls, when the request is traced. */
  traceparent?: string;
}

/** A chat request in the router's own schema. */
export interface ChatRequest {
  /** The route name the app asked for. */
  model: string;
  messages: ChatMessage[];
  params: ChatParams;
  tools?: ToolDef[];
  toolChoice?: ToolChoice;
  stream: boolean;
  /** The app asked for a usage chunk at the end of the stream. */
  includeUsage: boolean;
  /** OpenAI fields the router does not model; forwarded untouched to OpenAI-style providers. */
  passthrough: Record<string, unknown>;
  meta: RequestMeta;
}

/** The text of a message's content, parts other than text ignored. */
export function contentText(content: string | ContentPart[] | null | undefined): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join('');
}
