import { describe, expect, it } from 'vitest';
import { routeSchema } from '../../../src/config/schema.js';
import { applyCaps } from '../../../src/routing/caps.js';
import { RouteError } from '../../../src/routing/route-error.js';
import type { ChatRequest } from '../../../src/core/chat-request.js';

const req = (params: ChatRequest['params']): ChatRequest => ({
  model: 'r', messages: [{ role: 'user', content: 'x' }], params, stream: false, includeUsage: false, passthrough: {}, meta: { requestId: 'x', receivedAt: 0 },
});
const route = (caps: object) => routeSchema.parse({ targets: [{ provider: 'p', model: 'm' }], caps });

describe('route caps', () => {
  it('defaults: max_tokens 32768, n 8, reject', () => {
    expect(route({}).caps).toEqual({ maxTokens: 32_768, maxN: 8, onExceed: 'reject' });
  });
  it('rejects naming the field the app used', () => {
    const err = (() => {
      try {
        applyCaps(req({ maxTokens: 10, maxTokensField: 'max_completion_tokens' }), route({ maxTokens: 5 }), 'r');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(RouteError);
    expect(err).toMatchObject({ reason: 'invalid_request', param: 'max_completion_tokens' });
    expect(() => applyCaps(req({ n: 9 }), route({}), 'r')).toThrow(/at most 8/);
  });
  it('clamps in place and reports what it changed', () => {
    const r = req({ maxTokens: 10, n: 3 });
    expect(applyCaps(r, route({ maxTokens: 5, maxN: 2, onExceed: 'clamp' }), 'r')).toEqual(['max_tokens=5', 'n=2']);
    expect(r.params).toMatchObject({ maxTokens: 5, n: 2 });
  });
  it('leaves requests within the caps alone', () => {
    expect(applyCaps(req({ maxTokens: 5, n: 1 }), route({}), 'r')).toEqual([]);
  });
});
