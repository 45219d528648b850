/**
 * Property: whatever way an answer is cut into stream chunks, the streamed output filter gives
 * exactly what the whole-answer filter gives (masking, blocking, restored placeholders, counts),
 * on answers built from terms disguised by case, width, zero-width characters and separators.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { safetySchema } from '../../src/config/safety-schema.js';
import type { ChatChunk, ChatResponse } from '../../src/core/chat-response.js';
import { DecisionTally } from '../../src/safety/decisions.js';
import { buildLexicon } from '../../src/safety/lexicon/lexicon.js';
import { filterResponse, filterStream, type OutputContext } from '../../src/safety/output-filter.js';
import { PlaceholderVault } from '../../src/safety/pii/vault.js';
import { compilePolicies } from '../../src/safety/policy.js';

const runs = Number(process.env.FUZZ_RUNS ?? 300);
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

const lexicon = buildLexicon([
  { spec: { id: 'a', category: 'adult', file: 'a', wordBoundary: true, separators: true }, terms: ['badword', 'bad', 'nasty'] },
  { spec: { id: 'p', category: 'politics', file: 'p', wordBoundary: false, separators: false }, terms: ['敏感词', 'forbidden'] },
]);
const policy = compilePolicies(safetySchema.parse({ policies: { p: { lexicon: { adult: { output: 'mask' }, politics: { output: 'block' } }, pii: { email: { input: 'redact', reversible: true } } } } })).get('p')!;

const disguise = (w: string) =>
  fc.constantFrom(
    w,
    w.toUpperCase(),
    [...w].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join(''),
    [...w].join('\u200b'),
    [...w].join('.'),
    w.slice(0, 1) + '\u00ad' + w.slice(1),
  );
const word = fc.oneof(
  fc.constantFrom('the', 'router', 'badge', 'bad', 'badwords', 'x', '敏感', '词', 'forbid', 'den', '<EMAIL_1>', '<EMA', 'IL_1>', '😀', 'e\u0301'),
  fc.constantFrom('badword', 'nasty', 'forbidden', '敏感词').chain(disguise),
  fc.string({ maxLength: 6 }),
);
const answer = fc.array(fc.tuple(word, fc.constantFrom(' ', '', '\n', ', ')), { maxLength: 14 }).map((ws) => ws.map(([w, s]) => w + s).join(''));
const cuts = (text: string) => fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, text.length - 1) }), { maxLength: 8 }).map((xs) => [0, ...xs.filter((x) => x < text.length).sort((a, b) => a - b), text.length]);

function ctx(): OutputContext {
  const vault = new PlaceholderVault();
  vault.placeholderFor('email', 'bob@example.com');
  return { policy, lexicon, vault, detect: {}, tally: new DecisionTally() };
}

async function streamed(text: string, at: number[]) {
  const c = ctx();
  async function* up(): AsyncIterable<ChatChunk> {
    for (let i = 0; i + 1 < at.length; i++) if (at[i + 1]! > at[i]!) yield { type: 'delta', index: 0, text: text.slice(at[i], at[i + 1]) };
    yield { type: 'finish', index: 0, finish: 'stop' };
  }
  let out = '';
  let finish = '';
  for await (const x of filterStream(up(), c, 1)) {
    if (x.type === 'delta') out += x.text ?? '';
    if (x.type === 'finish') finish = x.finish;
  }
  return { out, finish, tally: c.tally.list() };
}

function whole(text: string) {
  const c = ctx();
  const res: ChatResponse = { model: 'm', choices: [{ index: 0, message: { content: text }, finishReason: 'stop' }] };
  filterResponse(res, c);
  return { out: res.choices[0]!.message.content!, finish: res.choices[0]!.finishReason, tally: c.tally.list() };
}

describe('streamed output filtering equals whole-answer filtering', () => {
  it('for any answer and any cut into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(answer.chain((t) => fc.tuple(fc.constant(t), cuts(t))), async ([text, at]) => {
        const w = whole(text);
        const s = await streamed(text, at);
        expect(s.finish).toBe(w.finish);
        if (w.finish === 'content_filter') {
          // What went out before the block is a prefix of the answer without the blocked term.
          expect(s.out.toLowerCase()).not.toContain('forbidden');
          expect(s.out).not.toContain('敏感词');
        } else {
          expect(s.out).toBe(w.out);
          expect(s.tally).toEqual(w.tally);
        }
      }),
      { numRuns: runs, ...(seed !== undefined ? { seed } : {}) },
    );
  });
});
