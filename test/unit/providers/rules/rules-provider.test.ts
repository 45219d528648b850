import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRulesProvider, NO_RULE_MATCHED, RULE_HEADER } from '../../../../providers/rules/index.js';
import { rulesOptionsSchema } from '../../../../providers/rules/options.js';
import { streamPieces } from '../../../../providers/rules/rules-provider.js';
import { providerOptionsSchema } from '../../../../providers/options.js';
import type { ChatChunk } from '../../../../src/core/chat-response.js';
import { countsAgainstHealth, isTransient, ProviderError } from '../../../../src/core/provider-error.js';
import type { Provider } from '../../../../src/core/provider.js';
import { chatRequest } from '../../../fixtures/requests.js';

const logger = pino({ level: 'silent' });
const target = { provider: 'canned', model: 'faq' };
const signal = () => new AbortController().signal;
const NOW = Date.UTC(2025, 5, 1, 12);

const RULES = `
rules:
  - name: hours
    match: { keywords: [opening hours, "open today"] }
    answer: "We open at 9 ({{0}}), route {{route}}, model {{model}}, {{date}}."
  - name: order
    match: { regex: 'order\\s+#?(\\d{3,10})(\\s+urgent)?' }
    answer: "Order {{1}} noted{{2}}."
  - name: boss
    match: { keywords: [ceo], role: system }
    answer: Hello boss.
  - name: both
    match: { keywords: [refund], regex: '\\b(card|cash)\\b' }
    answer: "Refunds by {{1}} take 5 days."
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rules-provider-'));
  await writeFile(join(dir, 'faq.yaml'), RULES);
  await writeFile(join(dir, 'degraded.yaml'), `${RULES}default: "The service is degraded ({{route}}); try again later."\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function provider(file = 'faq.yaml', opts: { now?: () => number; checkEveryMs?: number } = {}): Provider {
  const config = rulesOptionsSchema.parse({ kind: 'rules', file });
  return createRulesProvider('canned', config, { logger, baseDir: dir }, { now: () => NOW, ...opts });
}

const ask = (content: string, extra: Record<string, unknown> = {}) => chatRequest({ messages: [{ role: 'user', content }], ...extra });

async function textOf(p: Provider, content: string): Promise<string> {
  const r = await p.chat(ask(content), target, { signal: signal() });
  return r.choices[0]!.message.content!;
}

async function collect(chunks: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe('rules provider', () => {
  it('is a provider kind of the config (file required, enabled by default)', () => {
    expect(providerOptionsSchema.parse({ kind: 'rules', file: 'r.yaml' })).toEqual({ kind: 'rules', file: 'r.yaml', enabled: true });
    expect(providerOptionsSchema.safeParse({ kind: 'rules' }).success).toBe(false);
    expect(providerOptionsSchema.safeParse({ kind: 'rules', file: 'r.yaml', regex: 'x' }).success).toBe(false);
  });

  it('matches keywords case-insensitively, as whole words, and fills templates', async () => {
    const p = provider();
    expect(await textOf(p, 'What are your OPENING   Hours?')).toBe('We open at 9 (OPENING   Hours), route chat, model faq, 2025-06-01.');
    expect(await textOf(p, 'are you open today')).toContain('(open today)');
    // "open todays" is not the phrase "open today".
    await failure(p.chat(ask('open todays deals'), target, { signal: signal() }));
  });

  it('matches regexes (case-insensitive by default) and fills their groups, unmatched optional groups empty', async () => {
    const p = provider();
    expect(await textOf(p, 'where is ORDER #12345 urgent')).toBe('Order 12345 noted urgent.');
    expect(await textOf(p, 'order 999')).toBe('Order 999 noted.');
  });

  it('needs keywords and regex both when a rule has both', async () => {
    const p = provider();
    expect(await textOf(p, 'refund to my card please')).toBe('Refunds by card take 5 days.');
    await failure(p.chat(ask('refund please'), target, { signal: signal() }));
  });

  it('matches the last user message by default, and the system message when told', async () => {
    const p = provider();
    const req = chatRequest({ messages: [{ role: 'user', content: 'opening hours?' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'thanks' }] });
    await failure(p.chat(req, target, { signal: signal() }));
    const sys = chatRequest({ messages: [{ role: 'system', content: 'You talk to the CEO.' }, { role: 'user', content: 'hi' }] });
    expect((await p.chat(sys, target, { signal: signal() })).choices[0]!.message.content).toBe('Hello boss.');
  });

  it('matches only the last 4,000 characters of a long message', async () => {
    const p = provider();
    expect(await textOf(p, `opening hours ${'x '.repeat(3_000)}`).catch((e: unknown) => e)).toBeInstanceOf(ProviderError);
    expect(await textOf(p, `${'x '.repeat(3_000)} opening hours`)).toContain('We open');
  });

  it('with no match and no default passes: retryable, never transient, never against health', async () => {
    const err = await failure(provider().chat(ask('something else'), target, { signal: signal() }));
    expect(err).toMatchObject({ kind: 'not_found', retryable: true, code: NO_RULE_MATCHED, provider: 'canned' });
    expect(countsAgainstHealth(err.kind)).toBe(false);
    expect(isTransient(err.kind)).toBe(false);
    // A stream passes before its first chunk, so the chain can still fall back.
    await failure(provider().stream(ask('something else'), target, { signal: signal() }));
  });

  it('answers the default when nothing matches', async () => {
    const p = provider('degraded.yaml');
    const r = await p.chat(ask('anything at all'), target, { signal: signal() });
    expect(r.choices[0]!.message.content).toBe('The service is degraded (chat); try again later.');
    expect(r.notes?.headers?.[RULE_HEADER]).toBe('default');
  });

  it('answers in the normal format: finish stop, rough usage, the rule in a header, n choices', async () => {
    const r = await provider().chat(ask('opening hours', { n: 2 }), target, { signal: signal() });
    expect(r.model).toBe('faq');
    expect(r.choices).toHaveLength(2);
    expect(r.choices.map((c) => [c.index, c.finishReason])).toEqual([
      [0, 'stop'],
      [1, 'stop'],
    ]);
    expect(r.usage!.promptTokens).toBeGreaterThan(0);
    expect(r.usage!.completionTokens).toBeGreaterThan(0);
    expect(r.usage!.totalTokens).toBe(r.usage!.promptTokens + r.usage!.completionTokens);
    expect(r.notes?.headers?.[RULE_HEADER]).toBe('hours');
  });

  it('streams the same text as chat, in a few deltas, then finish and usage', async () => {
    const p = provider('degraded.yaml');
    for (const content of ['opening hours', 'order 123456', 'nothing matches this']) {
      const whole = await p.chat(ask(content), target, { signal: signal() });
      const s = await p.stream(ask(content), target, { signal: signal() });
      const chunks = await collect(s.chunks);
      const deltas = chunks.filter((c) => c.type === 'delta');
      expect(deltas.length).toBeGreaterThanOrEqual(1);
      expect(deltas.length).toBeLessThanOrEqual(4);
      expect(deltas.map((c) => (c.type === 'delta' ? c.text : '')).join('')).toBe(whole.choices[0]!.message.content);
      expect(chunks.at(-2)).toEqual({ type: 'finish', index: 0, finish: 'stop' });
      expect(chunks.at(-1)).toEqual({ type: 'usage', usage: whole.usage });
    }
  });

  it('stops a stream when its call is aborted', async () => {
    const ctl = new AbortController();
    const s = await provider('degraded.yaml').stream(ask('opening hours'), target, { signal: ctl.signal });
    const it = s.chunks[Symbol.asyncIterator]();
    await it.next();
    ctl.abort();
    await expect(it.next()).rejects.toMatchObject({ kind: 'aborted' });
  });

  it('answers a tools request with text, passes when a tool call is required', async () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    const p = provider();
    expect(p.capabilities('faq')).toMatchObject({ tools: true, jsonObject: false, jsonSchema: false });
    expect(p.capabilities('faq').contextLength).toBeUndefined();
    const r = await p.chat(ask('opening hours', { tools }), target, { signal: signal() });
    expect(r.choices[0]!.finishReason).toBe('stop');
    const err = await failure(p.chat(ask('opening hours', { tools, tool_choice: 'required' }), target, { signal: signal() }));
    expect(err).toMatchObject({ kind: 'not_found', retryable: true });
  });

  it('is always healthy', async () => {
    expect(await provider().health()).toMatchObject({ ok: true });
  });

  it('fails to build on a missing or invalid file, naming the file', async () => {
    expect(() => provider('nope.yaml')).toThrow(/rules file .*nope\.yaml is not readable: ENOENT/);
    await writeFile(join(dir, 'bad.yaml'), 'rules:\n  - match: { regex: "(" }\n    answer: x\n');
    expect(() => provider('bad.yaml')).toThrow(/bad\.yaml:2: rules\[0\]\.match\.regex: invalid regular expression/);
  });

  it('reloads an edited file, and keeps the last good rules when an edit is broken', async () => {
    const file = join(dir, 'live.yaml');
    await writeFile(file, 'default: first\n');
    let now = NOW;
    const p = provider('live.yaml', { now: () => now, checkEveryMs: 1_000 });
    expect(await textOf(p, 'x')).toBe('first');
    await writeFile(file, 'default: second, longer\n');
    expect(await textOf(p, 'x')).toBe('first'); // not checked again yet
    now += 1_000;
    expect(await textOf(p, 'x')).toBe('second, longer');
    await writeFile(file, 'rules:\n  - match: { regex: "(" }\n    answer: x\n');
    now += 1_000;
    expect(await textOf(p, 'x')).toBe('second, longer');
  });
});

describe('streamPieces', () => {
  it.each(['', 'one', 'a b c d e f g h', 'word '.repeat(50), 'x'.repeat(100)])('joins back to the text (%#)', (text) => {
    const pieces = streamPieces(text);
    expect(pieces.join('')).toBe(text);
    expect(pieces.length).toBeLessThanOrEqual(4);
  });
});
