import { describe, expect, it } from 'vitest';
import type { ChatChunk, ChatResponse } from '../../../src/core/chat-response.js';
import { safetySchema } from '../../../src/config/safety-schema.js';
import { DecisionTally } from '../../../src/safety/decisions.js';
import { buildLexicon } from '../../../src/safety/lexicon/lexicon.js';
import { filterResponse, filterStream, type OutputContext } from '../../../src/safety/output-filter.js';
import { PlaceholderVault } from '../../../src/safety/pii/vault.js';
import { compilePolicies } from '../../../src/safety/policy.js';

const lexicon = buildLexicon([
  { spec: { id: 'a', category: 'adult', file: 'a.txt', wordBoundary: true, separators: false }, terms: ['badword', 'nasty'] },
  { spec: { id: 'p', category: 'politics', file: 'p.txt', wordBoundary: false, separators: false }, terms: ['forbidden', '敏感词'] },
]);
const policies = compilePolicies(
  safetySchema.parse({
    policies: {
      out: {
        lexicon: { adult: { output: 'mask' }, politics: { output: 'block' } },
        pii: { openai_key: { output: 'redact' }, email: { input: 'redact', reversible: true } },
      },
    },
  }),
);

function ctx(vault?: PlaceholderVault): OutputContext {
  return { policy: policies.get('out')!, lexicon, detect: {}, tally: new DecisionTally(), ...(vault ? { vault } : {}) };
}

async function* from(chunks: ChatChunk[]): AsyncIterable<ChatChunk> {
  for (const c of chunks) yield c;
}

const deltas = (texts: string[], index = 0): ChatChunk[] => texts.map((text) => ({ type: 'delta', index, text }));

async function run(chunks: ChatChunk[], c: OutputContext, n = 1) {
  const out: ChatChunk[] = [];
  for await (const x of filterStream(from(chunks), c, n)) out.push(x);
  const text = (i: number) => out.map((x) => (x.type === 'delta' && x.index === i ? (x.text ?? '') : '')).join('');
  const finish = (i: number) => out.find((x) => x.type === 'finish' && x.index === i);
  return { out, text, finish };
}

describe('output filter: streams', () => {
  it('masks a term split across chunks at every position, once counted', async () => {
    const answer = 'a badword, a nasty one';
    for (let i = 1; i < answer.length; i++) {
      for (const j of [i + 1, i + 3]) {
        const parts = [answer.slice(0, i), answer.slice(i, j), answer.slice(j)].filter(Boolean);
        const c = ctx();
        const r = await run([...deltas(parts), { type: 'finish', index: 0, finish: 'stop' }], c);
        expect(r.text(0), JSON.stringify(parts)).toBe('a *******, a ***** one');
        expect(c.tally.list()).toEqual([{ direction: 'output', filter: 'lexicon', category: 'adult', action: 'mask', count: 2 }]);
      }
    }
  });

  it('keeps word boundaries across chunks: "bad" + "wordy" is no match', async () => {
    const r = await run([...deltas(['x bad', 'wordy']), { type: 'finish', index: 0, finish: 'stop' }], ctx());
    expect(r.text(0)).toBe('x badwordy');
    const r2 = await run([...deltas(['xbad', 'word y']), { type: 'finish', index: 0, finish: 'stop' }], ctx());
    expect(r2.text(0)).toBe('xbadword y');
  });

  it('ends a blocked choice with content_filter; another choice goes on', async () => {
    let read = 0;
    async function* upstream(): AsyncIterable<ChatChunk> {
      for (const c of [
        ...deltas(['fine ', 'forb'], 0),
        ...deltas(['other '], 1),
        ...deltas(['idden!'], 0),
        ...deltas(['choice'], 1),
        { type: 'finish', index: 1, finish: 'stop' } as ChatChunk,
        ...deltas(['never read'], 0),
      ]) {
        read++;
        yield c;
      }
    }
    const out: ChatChunk[] = [];
    for await (const x of filterStream(upstream(), ctx(), 2)) out.push(x);
    const text0 = out.map((x) => (x.type === 'delta' && x.index === 0 ? (x.text ?? '') : '')).join('');
    expect(text0).toBe('fine ');
    expect(out.find((x) => x.type === 'finish' && x.index === 0)).toEqual({ type: 'finish', index: 0, finish: 'content_filter' });
    expect(out.find((x) => x.type === 'finish' && x.index === 1)).toMatchObject({ finish: 'stop' });
    expect(out.map((x) => (x.type === 'delta' && x.index === 1 ? x.text : '')).join('')).toBe('other choice');
    // The blocked choice's later deltas never go out; the stream is read on for the other choice (and usage).
    expect(read).toBe(7);
    expect(JSON.stringify(out)).not.toContain('never read');
  });

  it('filters tool call arguments and releases held text when the upstream ends without a finish', async () => {
    const chunks: ChatChunk[] = [
      { type: 'delta', index: 0, toolCalls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'f', arguments: '{"q":"bad' } }] },
      { type: 'delta', index: 0, toolCalls: [{ index: 0, function: { arguments: 'word"}' } }] },
      { type: 'delta', index: 0, text: 'trailing nas' },
    ];
    const r = await run(chunks, ctx());
    const args = r.out.flatMap((x) => (x.type === 'delta' ? (x.toolCalls ?? []) : [])).map((t) => t.function?.arguments ?? '').join('');
    expect(args).toBe('{"q":"*******"}');
    expect(r.out[0]).toMatchObject({ toolCalls: [{ id: 'c1', function: { name: 'f' } }] });
    expect(r.text(0)).toBe('trailing nas');
  });

  it('restores placeholders after masking, and redacts a secret the model produced', async () => {
    const vault = new PlaceholderVault();
    const ph = vault.placeholderFor('email', 'bob@example.com');
    const key = `sk-proj-${'Zy8xW7vU6tS5rQ4pO3nM2lK1jI0hG9fE'}`;
    const answer = `to ${ph}: badword ${key} end`;
    for (let i = 1; i < answer.length; i += 2) {
      const r = await run([...deltas([answer.slice(0, i), answer.slice(i)]), { type: 'finish', index: 0, finish: 'stop' }], ctx(vault));
      const text = r.text(0);
      expect(text, `cut at ${i}`).toContain('to bob@example.com: ******* ');
      expect(text).not.toContain(key);
      expect(text.endsWith(' end')).toBe(true);
    }
  });

  it('releases at once what cannot start a term', async () => {
    const r = await run(deltas(['hello there ', 'more']), ctx());
    expect(r.out[0]).toMatchObject({ type: 'delta', text: 'hello there ' });
  });
});

describe('output filter: a single blocked choice', () => {
  it('stops reading the upstream once every choice is done', async () => {
    let read = 0;
    async function* upstream(): AsyncIterable<ChatChunk> {
      for (const c of [...deltas(['say forbidden', ' and more', ' and more'])]) {
        read++;
        yield c;
      }
    }
    const out: ChatChunk[] = [];
    for await (const x of filterStream(upstream(), ctx(), 1)) out.push(x);
    expect(out.at(-1)).toEqual({ type: 'finish', index: 0, finish: 'content_filter' });
    // A term ending a chunk is decided by the next one (a combining mark could still follow); the third is never read.
    expect(read).toBe(2);
  });
});

describe('output filter: whole answers', () => {
  it('masks, blocks with the refusal and content_filter, restores', () => {
    const vault = new PlaceholderVault();
    const ph = vault.placeholderFor('email', 'bob@example.com');
    const res: ChatResponse = {
      model: 'm',
      choices: [
        { index: 0, message: { content: `a badword for ${ph}` }, finishReason: 'stop' },
        { index: 1, message: { content: 'this is 敏感词' }, finishReason: 'stop' },
      ],
    };
    const blocked = filterResponse(res, ctx(vault));
    expect(blocked).toEqual([1]);
    expect(res.choices[0]!.message.content).toBe('a ******* for bob@example.com');
    expect(res.choices[1]!.message.content).toBe("I can't help with that.");
    expect(res.choices[1]!.finishReason).toBe('content_filter');
  });
});

describe('bounded cost', () => {
  it('refuses a text of more matches than a scan collects instead of allocating without bound', async () => {
    const { applyLexicon } = await import('../../../src/safety/input-filter.js');
    const { MAX_HITS } = await import('../../../src/safety/lexicon/lexicon.js');
    const nested = buildLexicon([{ spec: { id: 'n', category: 'adult', file: 'n.txt', wordBoundary: false, separators: false }, terms: ['a', 'aa', 'aaa', 'aaaa'] }]);
    const text = 'a'.repeat(MAX_HITS);
    const scan = nested.scan(text);
    expect(scan.truncated).toBe(true);
    expect(scan.hits.length).toBe(MAX_HITS);
    const tally = new DecisionTally();
    expect(() => applyLexicon(text, nested, new Map([['adult', 'mask']]), '*', tally, 'input')).toThrow(/adult/);
  });
});
