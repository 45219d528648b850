import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromWireRequest, parseChatRequest } from '../../../src/wire/parse-chat-request.js';
import { chatRequestSchema, isPlainChatBody } from '../../../src/wire/request-schema.js';

/**
 * The hand-written pre-check of the common request shape must never accept what zod refuses,
 * and what it accepts must read exactly as zod's output reads (see request-schema.ts).
 */
const meta = { requestId: 'r', receivedAt: 0 };

// Values around every boundary the schema draws, and of every JSON type (plus a few non-JSON ones).
const scalar = fc.oneof(
  fc.constantFrom(undefined, null, true, false, 0, -0, 1, 2, -2, 0.5, 1.5, 2.0000001, -2.0000001, 4, 20, 21, 64, 128, 129, -1, 1e308, Number.MAX_SAFE_INTEGER, 2 ** 53, NaN, Infinity, -Infinity),
  fc.constantFrom('', 'x', 'none', 'auto', 'required', 'text', 'json_object', 'json_schema', 'function', 'user'),
  fc.integer({ min: -300, max: 300 }),
  fc.double({ min: -3, max: 3, noNaN: true }),
  fc.string({ maxLength: 6 }),
);
const value = fc.oneof(
  { weight: 4, arbitrary: scalar },
  fc.array(fc.oneof(fc.string({ maxLength: 3 }), fc.integer()), { maxLength: 6 }),
  fc.record({ type: fc.constantFrom('text', 'json_object', 'json_schema', 'function', 5), include_usage: scalar }, { requiredKeys: [] }),
);
/** Mostly absent, sometimes anything: so that many bodies are of the common shape and many just off it. */
const rarely = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: a });
const toolCall = fc.record(
  { id: fc.oneof(fc.string({ maxLength: 4 }), scalar), type: fc.constantFrom(undefined, 'function', 'other'), function: fc.oneof(fc.record({ name: fc.oneof(fc.string({ maxLength: 4 }), scalar), arguments: fc.oneof(fc.string({ maxLength: 4 }), scalar) }, { requiredKeys: [] }), scalar) },
  { requiredKeys: [] },
);
const message = fc.record(
  {
    role: fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool', 'function', 'bogus', undefined),
    content: fc.oneof({ weight: 6, arbitrary: fc.string({ maxLength: 8 }) }, fc.constant([{ type: 'text', text: 'hi' }]), scalar),
    name: rarely(fc.oneof(fc.string({ maxLength: 4 }), scalar)),
    tool_calls: rarely(fc.oneof(fc.array(toolCall, { maxLength: 2 }), scalar)),
    refusal: rarely(fc.oneof(fc.string({ maxLength: 4 }), scalar)),
    function_call: rarely(fc.oneof(fc.constant({ name: 'f', arguments: '{}' }), scalar)),
    tool_call_id: fc.oneof(fc.string({ maxLength: 4 }), scalar),
    extra: rarely(value),
  },
  { requiredKeys: ['role', 'content'] },
);
const FIELDS = ['max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'n', 'stop', 'seed', 'presence_penalty', 'frequency_penalty', 'logprobs', 'top_logprobs', 'response_format', 'tools', 'tool_choice', 'parallel_tool_calls', 'stream', 'stream_options', 'user', 'metadata'] as const;
const body = fc.record(
  {
    model: fc.oneof({ weight: 5, arbitrary: fc.constant('chat') }, scalar),
    messages: fc.oneof({ weight: 8, arbitrary: fc.array(message, { minLength: 1, maxLength: 3 }) }, fc.constant([]), scalar),
    ...Object.fromEntries(FIELDS.map((f) => [f, fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: value })])),
  },
  { requiredKeys: ['model', 'messages'] },
);

describe('pre-check of the common chat request shape', () => {
  it('accepts only what zod accepts, and reads it as zod’s output reads', () => {
    let fast = 0;
    let slow = 0;
    fc.assert(
      fc.property(body, (b) => {
        const r = b as Record<string, unknown>;
        if (!isPlainChatBody(r)) return void slow++;
        fast++;
        const z = chatRequestSchema.safeParse(r);
        expect(z.success).toBe(true);
        const viaZod = fromWireRequest(z.data!, meta, r);
        const got = parseChatRequest(r, meta);
        expect(got).toStrictEqual(viaZod);
        // Key order too: it is what the upstream receives.
        expect(JSON.stringify(got)).toBe(JSON.stringify(viaZod));
      }),
      { numRuns: 6000 },
    );
    // The generator must exercise the fast path, not only the fallback.
    expect(fast).toBeGreaterThan(300);
    expect(slow).toBeGreaterThan(300);
  });

  it('takes the typical body, and leaves the uncommon shapes to zod', () => {
    const typical = { model: 'chat', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }], max_tokens: 64, temperature: 0.2 };
    expect(isPlainChatBody(typical)).toBe(true);
    expect(isPlainChatBody({ ...typical, tools: [] })).toBe(false);
    expect(isPlainChatBody({ ...typical, messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] })).toBe(false);
    expect(isPlainChatBody({ ...typical, temperature: 2.5 })).toBe(false);
    expect(isPlainChatBody({ ...typical, max_tokens: 1.5 })).toBe(false);
    expect(isPlainChatBody({ ...typical, user: null })).toBe(false);
  });

  it('copies a stop list rather than keeping the body’s array', () => {
    const stop = ['a', 'b'];
    const r = parseChatRequest({ model: 'chat', messages: [{ role: 'user', content: 'u' }], stop }, meta);
    expect(r.params.stop).toEqual(stop);
    expect(r.params.stop).not.toBe(stop);
  });
});
