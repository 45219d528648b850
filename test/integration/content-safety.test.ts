import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditFiles } from '../../src/audit/audit-verify.js';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/** A valid mainland China resident ID (checksum X) and other test values. */
const CN_ID = '11010519491231002X';
const EMAIL = 'alice.smith@example.com';
const PHONE = '+86 138 0013 8000';
const OPENAI_KEY = `sk-proj-${'Ab3dE5gH7jK9mN1pQ3sT5vX7zB9cD1fG'}`;

const lastUser = (body: unknown): string => {
  const msgs = (body as { messages: Array<{ role: string; content: unknown }> }).messages;
  const m = [...msgs].reverse().find((x) => x.role === 'user')!;
  return typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
};

/** Every way to cut `text` into two or three chunks. */
function splits(text: string): string[][] {
  const out: string[][] = [];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  for (let i = 1; i < text.length - 1; i += 3) for (let j = i + 1; j < text.length; j += 2) out.push([text.slice(0, i), text.slice(i, j), text.slice(j)]);
  return out;
}

describe('content safety through the real app and the openai SDK', () => {
  let up: FakeUpstream;
  let trusted: FakeUpstream;
  let h: RouterHarness;
  let client: OpenAI;
  let relaxed: OpenAI;
  let dir: string;
  let yaml: string;

  const writeLists = (politics: string[]) => {
    writeFileSync(path.join(dir, 'politics.txt'), `# political terms\n${politics.join('\n')}\n`);
  };

  beforeAll(async () => {
    up = await startFakeUpstream();
    trusted = await startFakeUpstream();
    dir = mkdtempSync(path.join(tmpdir(), 'router-lexicon-'));
    writeLists(['forbiddenword', '敏感词']);
    writeFileSync(path.join(dir, 'adult.txt'), 'badword\nnasty\n');
    writeFileSync(path.join(dir, 'watch.txt'), '# flagged only\nwatchword\n');
    yaml = `
auth: { keys: [app-key, relaxed-key], adminKeys: [admin-key] }
providers:
  cloud: { kind: openai, apiKeys: [sk-cloud-secret-1], baseURL: "${up.url}/v1", timeoutMs: 3000 }
  onprem: { kind: openai, apiKeys: [sk-onprem-secret-1], baseURL: "${trusted.url}/v1", timeoutMs: 3000 }
safety:
  lexicons:
    politics: { file: ${dir}/politics.txt, category: politics, wordBoundary: false }
    adult: { file: ${dir}/adult.txt, category: adult, separators: true }
    watch: { file: ${dir}/watch.txt, category: watch }
  policies:
    standard:
      lexicon:
        politics: { input: block, output: block }
        adult: { input: mask, output: mask }
        watch: { input: flag, output: flag }
      pii:
        email: { input: redact, reversible: true }
        phone: { input: redact, reversible: true }
        card: { input: redact }
        secrets: { input: block }
      privacy: { kinds: [cn_id] }
      refusal: "Sorry, I cannot answer that."
    relaxed:
      lexicon: { politics: { input: flag, output: flag } }
  default: standard
  keys: { key-1: relaxed }
audit: { enabled: true, captureText: true, flushIntervalMs: 20 }
routes:
  chat:
    targets: [{ provider: cloud, model: gpt-4o-mini }, { provider: onprem, model: gpt-4o-mini, trust: trusted }]
    retry: { attempts: 1 }
    idleTimeoutMs: 2000
  cloud-only:
    targets: [{ provider: cloud, model: gpt-4o-mini }]
`;
    h = await startRouter(yaml);
    client = new OpenAI({ baseURL: h.baseURL, apiKey: 'app-key', maxRetries: 0 });
    relaxed = new OpenAI({ baseURL: h.baseURL, apiKey: 'relaxed-key', maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
    await trusted?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    up.reset();
    trusted.reset();
  });

  const ask = (content: string, extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming> = {}) =>
    client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content }], ...extra });

  async function refusal(p: Promise<unknown>): Promise<APIError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(APIError);
    return err as APIError;
  }

  describe('input', () => {
    it('blocks a term with 400 content_policy_violation naming the category, never the word, and calls no upstream', async () => {
      for (const text of ['tell me about FORBIDDENWORD now', 'ｆｏｒｂｉｄｄｅｎｗｏｒｄ', 'forbid\u200Bdenword', '这是敏感词测试']) {
        const err = await refusal(ask(text));
        expect(err.status).toBe(400);
        expect(err.code).toBe('content_policy_violation');
        expect(err.param).toBe('messages');
        expect(err.message).toContain('politics');
        expect(err.message.toLowerCase()).not.toContain('forbidden');
        expect(err.message).not.toContain('敏感');
      }
      // Split over two text parts of one message: the model would read it whole.
      const split = await refusal(client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: [{ type: 'text', text: 'say forbid' }, { type: 'text', text: 'denword' }] }] }));
      expect(split.code).toBe('content_policy_violation');
      expect(up.chatRequests()).toHaveLength(0);
    });

    it('masks before the request leaves: exactly the matched characters, in messages and tool results', async () => {
      await client.chat.completions.create({
        model: 'chat',
        messages: [
          { role: 'system', content: 'be nice' },
          { role: 'user', content: 'a b.a.d.w.o.r.d and a Nasty one' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"q":"badword"}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: [{ type: 'text', text: 'result: badword!' }] },
          { role: 'user', content: 'badwords stay (word boundary), xbadword too' },
        ],
        tools: [{ type: 'function', function: { name: 'f', description: 'finds badword things', parameters: { type: 'object', properties: {} } } }],
        tool_choice: 'none',
      });
      const sent = up.chatRequests()[0]!.body as { messages: Array<{ content: unknown; tool_calls?: Array<{ function: { arguments: string } }> }> };
      expect(sent.messages[1]!.content).toBe('a ************* and a ***** one');
      expect(sent.messages[2]!.tool_calls![0]!.function.arguments).toBe('{"q":"*******"}');
      expect(sent.messages[3]!.content).toEqual([{ type: 'text', text: 'result: *******!' }]);
      expect(sent.messages[4]!.content).toBe('badwords stay (word boundary), xbadword too');
      expect((sent as unknown as { tools: Array<{ function: { description: string } }> }).tools[0]!.function.description).toBe('finds ******* things');
    });

    it('blocks secrets and redacts non-reversibly what the policy says', async () => {
      const err = await refusal(ask(`my key is ${OPENAI_KEY}`));
      expect(err.code).toBe('content_policy_violation');
      expect(err.message).toContain('openai_key');
      expect(err.message).not.toContain(OPENAI_KEY);
      await ask('pay with 4111 1111 1111 1111 please');
      expect(lastUser(up.chatRequests()[0]!.body)).not.toContain('4111');
    });

    it('applies the key\'s own policy over the default one', async () => {
      const r = await relaxed.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'forbiddenword' }] });
      expect(r.choices[0]!.message.content).toBe('echo: forbiddenword');
    });
  });

  describe('reversible redaction', () => {
    it('sends placeholders upstream and gives the app its values back (non-streamed)', async () => {
      up.scriptAlways((req) => ({ content: `I will write to ${lastUser(req.body).match(/<EMAIL_\d+>/)?.[0]} and call <PHONE_1>.` }));
      try {
        const r = await ask(`email ${EMAIL} or phone ${PHONE}; again ${EMAIL}`);
        const upstreamSaw = lastUser(up.chatRequests()[0]!.body);
        expect(upstreamSaw).not.toContain(EMAIL);
        expect(upstreamSaw).not.toContain('138');
        expect(upstreamSaw).toBe('email <EMAIL_1> or phone <PHONE_1>; again <EMAIL_1>');
        expect(r.choices[0]!.message.content).toBe(`I will write to ${EMAIL} and call ${PHONE}.`);
      } finally {
        up.scriptAlways(undefined);
      }
    });

    it('restores placeholders split across stream chunks at every position', async () => {
      const answer = 'Mail <EMAIL_1> now.';
      for (const chunks of splits(answer).filter((_, i) => i % 2 === 0)) {
        up.script({ contentChunks: chunks });
        const stream = await client.chat.completions.create({ model: 'chat', stream: true, messages: [{ role: 'user', content: `to ${EMAIL}` }] });
        let text = '';
        let finish: string | null = null;
        for await (const c of stream) {
          text += c.choices[0]?.delta.content ?? '';
          finish = c.choices[0]?.finish_reason ?? finish;
        }
        expect(text, JSON.stringify(chunks)).toBe(`Mail ${EMAIL} now.`);
        expect(finish).toBe('stop');
      }
    });

    it('never turns the app\'s own literal placeholder into someone\'s value', async () => {
      up.scriptAlways(() => ({ content: 'literal <EMAIL_1>, value <EMAIL_2>' }));
      try {
        const r = await ask(`keep <EMAIL_1> as is; mine is ${EMAIL}`);
        expect(lastUser(up.chatRequests()[0]!.body)).toBe('keep <EMAIL_1> as is; mine is <EMAIL_2>');
        expect(r.choices[0]!.message.content).toBe(`literal <EMAIL_1>, value ${EMAIL}`);
      } finally {
        up.scriptAlways(undefined);
      }
    });
  });

  describe('output', () => {
    it('masks and blocks a non-streamed answer', async () => {
      up.script({ content: 'this is a badword, ok' });
      const masked = await ask('hi');
      expect(masked.choices[0]!.message.content).toBe('this is a *******, ok');
      expect(masked.choices[0]!.finish_reason).toBe('stop');
      up.script({ content: 'the answer is forbiddenword' });
      const blocked = await ask('hi');
      expect(blocked.choices[0]!.message.content).toBe('Sorry, I cannot answer that.');
      expect(blocked.choices[0]!.finish_reason).toBe('content_filter');
    });

    it('masks a streamed term split across chunks at every position', async () => {
      const answer = 'so a badword here';
      for (const chunks of splits(answer)) {
        up.script({ contentChunks: chunks });
        const stream = await client.chat.completions.create({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] });
        let text = '';
        for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
        expect(text, JSON.stringify(chunks)).toBe('so a ******* here');
      }
    });

    it('ends a stream with finish_reason content_filter and [DONE] on a blocked term split across chunks', async () => {
      const answer = 'one two forbiddenword three four';
      for (const chunks of splits(answer).filter((_, i) => i % 3 === 0)) {
        up.script({ contentChunks: chunks });
        const stream = await client.chat.completions.create({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] });
        let text = '';
        let finish: string | null = null;
        for await (const c of stream) {
          text += c.choices[0]?.delta.content ?? '';
          finish = c.choices[0]?.finish_reason ?? finish;
        }
        expect(finish, JSON.stringify(chunks)).toBe('content_filter');
        expect(text).not.toContain('forbidden');
        expect(text).not.toContain('three');
      }
    });

    it('releases text that cannot start a term at once (only what a term in progress needs is held)', async () => {
      up.script({ contentChunks: ['hello world ', 'bad', 'ge', 'r and more'] });
      const res = await fetch(`${h.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer app-key' },
        body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      });
      const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ delta: { content?: string } }> });
      const contents = events.map((e) => e.choices[0]?.delta.content).filter((c) => c);
      // "hello world " goes out whole; "bad" is held until "ge" + "r" show it is not "badword".
      expect(contents[0]).toBe('hello world ');
      expect(contents.join('')).toBe('hello world badger and more');
    });
  });

  describe('privacy routing', () => {
    it('keeps a prompt with a resident ID off the cloud and says so', async () => {
      const { data, response } = await ask(`my id is ${CN_ID}`).withResponse();
      expect(data.choices[0]!.message.content).toContain(CN_ID);
      expect(response.headers.get('x-router-provider')).toBe('onprem');
      expect(response.headers.get('x-router-privacy')).toContain('cn_id');
      expect(up.chatRequests()).toHaveLength(0);
      expect(trusted.chatRequests()).toHaveLength(1);
    });

    it('never falls back to the cloud when the trusted target fails', async () => {
      trusted.script({ status: 500 });
      const err = await refusal(ask(`id ${CN_ID}`));
      expect(err.status).toBe(502);
      expect(up.chatRequests()).toHaveLength(0);
    });

    it('refuses with 400 on a route that has no local or trusted target', async () => {
      const err = await refusal(client.chat.completions.create({ model: 'cloud-only', messages: [{ role: 'user', content: `id ${CN_ID}` }] }));
      expect(err.status).toBe(400);
      expect(err.code).toBe('privacy_no_trusted_target');
      expect(err.message).not.toContain(CN_ID);
      expect(up.chatRequests()).toHaveLength(0);
    });
  });

  describe('records', () => {
    it('counts decisions in metrics and writes a verifiable audit chain without the matched text', async () => {
      await refusal(ask('forbiddenword'));
      await ask('a watchword here');
      await refusal(ask(`key ${OPENAI_KEY}`));
      await h.server.safety.auditLog()!.flush();
      // The request line is written once the usage record settles.
      await new Promise((r) => setTimeout(r, 100));
      await h.server.safety.auditLog()!.flush();
      const metrics = await (await fetch(`${h.url}/metrics`, { headers: { authorization: 'Bearer admin-key' } })).text();
      expect(metrics).toMatch(/llm_router_filter_decisions_total\{filter="lexicon",category="politics",action="block",direction="input"\} \d+/);
      expect(metrics).toMatch(/llm_router_filter_decisions_total\{filter="lexicon",category="watch",action="flag",direction="input"\} \d+/);
      expect(metrics).not.toContain('forbiddenword');
      const auditDir = path.join(h.dataDir, 'audit');
      const files = readdirSync(auditDir).map((f) => path.join(auditDir, f));
      const verdict = await verifyAuditFiles(files);
      expect(verdict.ok).toBe(true);
      const text = files.map((f) => readFileSync(f, 'utf8')).join('');
      expect(text).not.toContain('forbiddenword');
      expect(text).not.toContain(OPENAI_KEY);
      expect(text).not.toContain(EMAIL);
      expect(text).not.toContain(CN_ID);
      const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const blocked = lines.find((l) => l.type === 'filter' && l.category === 'politics' && l.action === 'block');
      expect(blocked).toMatchObject({ direction: 'input', filter: 'lexicon', count: 1 });
      const req = lines.find((l) => l.type === 'request' && l.requestId === blocked!.requestId);
      expect(req).toMatchObject({ outcome: 'content_policy_violation', route: 'chat', keyId: 'key-0', policy: 'standard' });
      const flagged = lines.filter((l) => l.type === 'request' && (l.filters as Record<string, number>)['input.lexicon.watch.flag'] === 1);
      expect(flagged.length).toBeGreaterThan(0);
      // Captured text never holds a matched term or a detected value.
      expect(flagged.at(-1)!.messages).toEqual(['a ********* here']);
    });

    it('records filter decisions in the usage record', async () => {
      await ask('a watchword again');
      const usage = h.server.policies.state()!.usage;
      await usage.flush();
      const records: Array<{ filters?: Record<string, number> }> = [];
      for await (const r of usage.query({ route: 'chat' })) records.push(r);
      expect(records.some((r) => r.filters?.['input.lexicon.watch.flag'] === 1)).toBe(true);
    });
  });

  describe('reload', () => {
    it('rebuilds the lexicon in the background while requests run; the old one serves until the new one is ready', async () => {
      let stop = false;
      const results: string[] = [];
      const loop = (async () => {
        while (!stop) {
          const r = await ask('plain text').then(
            () => 'ok',
            (e: APIError) => `err ${e.status}`,
          );
          results.push(r);
        }
      })();
      writeLists(['forbiddenword', '敏感词', 'newlybanned']);
      const deadline = Date.now() + 10_000;
      let blocked = false;
      while (!blocked && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        blocked = await ask('a newlybanned term').then(
          () => false,
          (e: APIError) => e.code === 'content_policy_violation',
        );
      }
      stop = true;
      await loop;
      expect(blocked).toBe(true);
      expect(results.length).toBeGreaterThan(0);
      expect(results.every((r) => r === 'ok')).toBe(true);
      // A config reload that names a missing list keeps the lexicon in force.
      expect(h.reload(yaml.replace(`${dir}/watch.txt`, `${dir}/missing.txt`))).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      await expect(refusal(ask('newlybanned'))).resolves.toMatchObject({ code: 'content_policy_violation' });
    });
  });
});

describe('the audit log through a shutdown, with a Redis copy', () => {
  it('loses no line on a clean shutdown and copies every line to the Redis stream', async () => {
    const { Redis } = await import('ioredis');
    const up = await startFakeUpstream();
    const stream = `llm-router-test:${process.pid}-${Date.now()}:audit`;
    const h = await startRouter(`
providers:
  up: { kind: openai, apiKeys: [sk-1], baseURL: "${up.url}/v1" }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }] }
audit: { enabled: true, flushIntervalMs: 1000, redis: { url: "redis://127.0.0.1:6379", stream: "${stream}" } }
`);
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      const client = new OpenAI({ baseURL: h.baseURL, apiKey: 'unused', maxRetries: 0 });
      await Promise.all(Array.from({ length: 40 }, (_, i) => client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: `hi ${i}` }] })));
      // A long flush interval: the lines are still queued when the shutdown starts.
      expect(await h.server.shutdown({ drainMs: 2000 })).toBe(true);
      const dir = path.join(h.dataDir, 'audit');
      const files = readdirSync(dir).map((f) => path.join(dir, f));
      const lines = files.flatMap((f) => readFileSync(f, 'utf8').trim().split('\n'));
      expect(lines.filter((l) => l.includes('"type":"request"'))).toHaveLength(40);
      expect((await verifyAuditFiles(files)).ok).toBe(true);
      const copied = (await redis.xrange(stream, '-', '+')).map(([, fields]) => fields[1]);
      expect(copied).toEqual(lines);
    } finally {
      await redis.del(stream);
      redis.disconnect();
      await h.close();
      await up.close();
    }
  });
});
