/**
 * Per-route caps on what one request may ask of the operator's upstream accounts: `n` choices
 * and `max_tokens` multiply the cost of a call, and apps can send any number.
 */
import type { ChatRequest } from '../core/chat-request.js';
import type { RouteConfig } from '../config/schema.js';
import { RouteError } from './route-error.js';

/** Response header listing what was clamped, e.g. "max_tokens=32768, n=8". */
export const CLAMPED_HEADER = 'x-router-clamped';

/**
 * Applies the route's caps to `req` (in place when clamping). Returns what was clamped, as
 * `field=value` items; throws a RouteError('invalid_request') naming the field when rejecting.
 */
export function applyCaps(req: ChatRequest, route: Pick<RouteConfig, 'caps'>, routeName: string): string[] {
  const { maxTokens, maxN, onExceed } = route.caps;
  const clamped: string[] = [];
  const p = req.params;
  if (p.maxTokens !== undefined && p.maxTokens > maxTokens) {
    const field = p.maxTokensField ?? 'max_tokens';
    if (onExceed === 'reject') {
      throw new RouteError('invalid_request', `Invalid value for '${field}': at most ${maxTokens} on route '${routeName}' (got ${p.maxTokens}).`, [], undefined, field);
    }
    p.maxTokens = maxTokens;
    clamped.push(`${field}=${maxTokens}`);
  }
  if (p.n !== undefined && p.n > maxN) {
    if (onExceed === 'reject') {
      throw new RouteError('invalid_request', `Invalid value for 'n': at most ${maxN} on route '${routeName}' (got ${p.n}).`, [], undefined, 'n');
    }
    p.n = maxN;
    clamped.push(`n=${maxN}`);
  }
  return clamped;
}

/** Response header with the route's default max_tokens when it was applied, e.g. "1000". */
export const DEFAULT_MAX_TOKENS_HEADER = 'x-router-default-max-tokens';

/**
 * Sets the route's `defaultMaxTokens` (never above its cap) on a request that asked for no
 * max_tokens, in place. The upstream gets it as `max_tokens` (the field an app sends by
 * default). Returns the value set, or undefined when nothing was.
 */
export function applyDefaultMaxTokens(req: ChatRequest, route: Pick<RouteConfig, 'caps' | 'defaultMaxTokens'>): number | undefined {
  if (route.defaultMaxTokens === undefined || req.params.maxTokens !== undefined) return undefined;
  req.params.maxTokens = Math.min(route.defaultMaxTokens, route.caps.maxTokens);
  return req.params.maxTokens;
}
