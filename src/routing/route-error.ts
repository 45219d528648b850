import type { ProviderError } from '../core/provider-error.js';
import type { Attempt } from './attempts.js';

/** Why a route could not answer, for the edge to turn into an HTTP error. */
export type RouteErrorReason =
  /** The app named a route that does not exist. */
  | 'unknown_route'
  /** No target of the route can serve this request (capabilities; length and capabilities together). */
  | 'no_capable_target'
  /** The request would be served but for its length: prompt plus max_tokens exceed every fit target's context. */
  | 'context_length_exceeded'
  /** Every target is disabled or its breaker is open. */
  | 'no_available_target'
  /** The request breaks a rule of the route (a cap on n or max_tokens); `param` names the field. */
  | 'invalid_request'
  /** The prompt carries data that may only go to local/trusted targets, and the route has none. */
  | 'privacy_unavailable'
  /** Targets were tried and all failed; `last` says how. */
  | 'exhausted';

export class RouteError extends Error {
  constructor(
    readonly reason: RouteErrorReason,
    message: string,
    readonly attempts: Attempt[] = [],
    readonly last?: ProviderError,
    readonly param?: string,
  ) {
    super(message);
    this.name = 'RouteError';
  }
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** The numbers behind a `context_length_exceeded` refusal. */
export interface ContextShortfall {
  route: string;
  /** Prompt tokens (in the encoding of the target with the largest context). */
  promptTokens: number;
  maxTokens?: number;
  /** The wire field of `maxTokens`, as the app sent it. */
  maxTokensField?: string;
  /** max_tokens came from the route's `defaultMaxTokens`. */
  defaulted?: boolean;
  /** The largest context among the targets that could otherwise serve the request. */
  largestContext: number;
  /** Counted after dropping every turn truncation may drop. */
  truncated?: boolean;
  /** Per-target reasons, for the operator (and the app, as for `no_capable_target`). */
  detail?: string;
}

/**
 * A 400 `context_length_exceeded` with the numbers, e.g. "This request needs 9,120 tokens
 * (8,120 in the prompt + 1,000 max_tokens), but the largest context on route 'chat' is 8,192
 * tokens."
 */
export function contextLengthExceeded(s: ContextShortfall): RouteError {
  const prompt = s.truncated ? 'in the system/developer messages and the last user turn' : 'in the prompt';
  const needs = s.maxTokens
    ? `${fmt(s.promptTokens + s.maxTokens)} tokens (${fmt(s.promptTokens)} ${prompt} + ${fmt(s.maxTokens)} ${s.maxTokensField ?? 'max_tokens'}${s.defaulted ? ", the route's default" : ''})`
    : `${fmt(s.promptTokens)} tokens ${prompt}`;
  const message =
    `This request needs ${s.truncated ? 'at least ' : ''}${needs}${s.truncated ? ' even with its oldest turns dropped' : ''}, ` +
    `but the largest context on route '${s.route}' is ${fmt(s.largestContext)} tokens${s.detail ? ` (${s.detail})` : ''}.`;
  return new RouteError('context_length_exceeded', message, [], undefined, 'messages');
}
