import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChatChunk } from '../../../src/core/chat-response.js';
import { WireChunkEncoder, type WireEnvelope } from '../../../src/wire/chunk-encoder.js';

const text = fc.string({ maxLength: 12 }).map((s) => s.replace(/[\uD800-\uDFFF]/g, '')).chain((s) => fc.constantFrom(s, `"${s}\\\n\u2028`));
const chunk: fc.Arbitrary<ChatChunk> = fc.oneof(
  fc.record({ type: fc.constant('delta' as const), index: fc.nat(2), text: fc.option(text, { nil: undefined }), refusal: fc.option(text, { nil: undefined }), logprobs: fc.option(fc.constant({ content: [] }), { nil: undefined }) }),
  fc.record({ type: fc.constant('finish' as const), index: fc.nat(2), finish: fc.constantFrom('stop' as const, 'length' as const, 'tool_calls' as const), contentFilterResults: fc.option(fc.constant({ hate: { filtered: false } }), { nil: undefined }) }),
  fc.record({
    type: fc.constant('usage' as const),
    usage: fc.record({ promptTokens: fc.nat(), completionTokens: fc.nat(), totalTokens: fc.nat() }),
  }),
);
const envelope: fc.Arbitrary<WireEnvelope> = fc.record({
  id: text.map((s) => `chatcmpl-${s}`),
  created: fc.nat(),
  model: text,
  systemFingerprint: fc.option(fc.option(text, { nil: null }), { nil: undefined }),
  promptFilterResults: fc.option(fc.constantFrom([], [{ prompt_index: 0 }]), { nil: undefined }),
});

describe('WireChunkEncoder.encodeJson', () => {
  it('is JSON.stringify(encode(chunk)) for any envelope and chunk sequence, usage extras appended to usage', () => {
    fc.assert(
      fc.property(envelope, fc.boolean(), fc.array(chunk, { maxLength: 12 }), fc.option(fc.constantFrom(0.0012, null), { nil: undefined }), (env, includeUsage, chunks, cost) => {
        const objects = new WireChunkEncoder(env, includeUsage);
        const strings = new WireChunkEncoder(env, includeUsage);
        for (const c of chunks) {
          const extra = c.type === 'usage' && cost !== undefined ? { cost_usd: cost } : undefined;
          const wire = objects.encode(c);
          if (wire && extra) Object.assign(wire.usage as object, extra);
          expect(strings.encodeJson(c, extra)).toBe(wire === null ? null : JSON.stringify(wire));
        }
      }),
      { numRuns: 500 },
    );
  });
});
