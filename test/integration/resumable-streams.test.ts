import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';
import { deletePrefix, runPrefix, TEST_REDIS_URL } from '../unit/state/redis-test-support.js';

type Frame = { id?: string; data: string };

/** Reads SSE frames from a response until `stopAfter` frames (then the connection is cut) or the end. */
async function readFrames(res: Response, stopAfter = Infinity, controller?: AbortController): Promise<Frame[]> {
  const frames: Frame[] = [];
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const raw = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const frame: Frame = { data: '' };
        for (const line of raw.split('\n')) {
          if (line.startsWith('id: ')) frame.id = line.slice(4);
          else if (line.startsWith('data: ')) frame.data += line.slice(6);
        }
        frames.push(frame);
        if (frames.length >= stopAfter) {
          controller?.abort();
          return frames;
        }
      }
    }
  } catch {
    /* cut by the test */
  }
  return frames;
}

const textOf = (frames: Frame[]) =>
  frames
    .filter((f) => f.data.startsWith('{'))
    .map((f) => (JSON.parse(f.data) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
    .join('');

const pieces = Array.from({ length: 30 }, (_, i) => `w${i} `);
const fullText = pieces.join('');

describe.each(['memory', 'redis'] as const)('resumable streams (%s backend)', (backend) => {
  let up: FakeUpstream;
  let h: RouterHarness;
  let other: RouterHarness | undefined;
  const prefix = runPrefix('resume-it');
  const config = () => `
auth: { keys: [key-a, key-b] }
${backend === 'redis' ? `state: { backend: redis, redis: { url: "${TEST_REDIS_URL}", keyPrefix: "${prefix}" } }` : ''}
providers:
  up: { kind: openai, apiKeys: [sk-up], baseURL: "${up.url}/v1" }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }], idleTimeoutMs: 5000 }
  always: { targets: [{ provider: up, model: gpt-4o-mini }], resumable: true, idleTimeoutMs: 5000 }
streams: { detachedTimeoutMs: 3000 }
`;

  beforeAll(async () => {
    up = await startFakeUpstream();
    h = await startRouter(config());
    if (backend === 'redis') other = await startRouter(config());
  });
  afterAll(async () => {
    await h?.close();
    await other?.close();
    await up?.close();
    if (backend === 'redis') await deletePrefix(TEST_REDIS_URL, prefix);
  });

  const post = (router: RouterHarness, key: string, headers: Record<string, string>, signal?: AbortSignal, model = 'chat') =>
    fetch(`${router.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      ...(signal ? { signal } : {}),
    });

  it('a client cut at any event resumes with Last-Event-ID and gets the rest exactly once, in order', async () => {
    for (const cutAt of [1, 2, 7, 13]) {
      up.script({ contentChunks: pieces, stallAfterChunks: 15, stallMs: 400 });
      const ctl = new AbortController();
      const res = await post(h, 'key-a', { 'x-router-resumable': 'true' }, ctl.signal);
      const streamId = res.headers.get('x-router-stream-id');
      expect(streamId).toMatch(/^strm_/);
      const first = await readFrames(res, cutAt, ctl);
      expect(first.every((f) => f.id?.startsWith(`${streamId}.`))).toBe(true);
      const resumed = await fetch(`${h.baseURL}/chat/completions/streams/${streamId}`, { headers: { authorization: 'Bearer key-a', 'last-event-id': first.at(-1)!.id! } });
      expect(resumed.status).toBe(200);
      const rest = await readFrames(resumed);
      expect(textOf([...first, ...rest])).toBe(fullText);
      expect(rest.at(-1)!.data).toBe('[DONE]');
      const ids = [...first, ...rest].map((f) => f.id).filter(Boolean);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });

  it('resumes through a re-POST with Last-Event-ID (no second upstream call), and on a route that makes every stream resumable', async () => {
    up.reset();
    up.script({ contentChunks: pieces, stallAfterChunks: 10, stallMs: 300 });
    const ctl = new AbortController();
    const res = await post(h, 'key-a', {}, ctl.signal, 'always');
    const first = await readFrames(res, 4, ctl);
    const again = await post(h, 'key-a', { 'last-event-id': first.at(-1)!.id! }, undefined, 'always');
    const rest = await readFrames(again);
    expect(textOf([...first, ...rest])).toBe(fullText);
    expect(up.chatRequests()).toHaveLength(1);
  });

  it('keeps another key out (404), and a plain stream has no ids', async () => {
    up.script({ contentChunks: pieces.slice(0, 3) });
    const res = await post(h, 'key-a', { 'x-router-resumable': 'true' });
    const id = res.headers.get('x-router-stream-id')!;
    await readFrames(res);
    const foreign = await fetch(`${h.baseURL}/chat/completions/streams/${id}`, { headers: { authorization: 'Bearer key-b' } });
    expect(foreign.status).toBe(404);
    up.script({ contentChunks: pieces.slice(0, 3) });
    const plain = await readFrames(await post(h, 'key-a', {}));
    expect(plain.every((f) => f.id === undefined)).toBe(true);
  });

  it.runIf(backend === 'redis')('resumes on another instance', async () => {
    up.script({ contentChunks: pieces, stallAfterChunks: 12, stallMs: 400 });
    const ctl = new AbortController();
    const res = await post(h, 'key-a', { 'x-router-resumable': 'true' }, ctl.signal);
    const streamId = res.headers.get('x-router-stream-id')!;
    const first = await readFrames(res, 5, ctl);
    const resumed = await fetch(`${other!.baseURL}/chat/completions/streams/${streamId}`, { headers: { authorization: 'Bearer key-a', 'last-event-id': first.at(-1)!.id! } });
    const rest = await readFrames(resumed);
    expect(textOf([...first, ...rest])).toBe(fullText);
  });

  it('closes the upstream call when no client comes back within detachedTimeoutMs', async () => {
    up.reset();
    up.script({ streamForever: { everyMs: 50 } });
    const ctl = new AbortController();
    const res = await post(h, 'key-a', { 'x-router-resumable': 'true' }, ctl.signal);
    await readFrames(res, 2, ctl);
    const deadline = Date.now() + 10_000;
    while (!up.chatRequests()[0]?.clientClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(up.chatRequests()[0]!.clientClosed).toBe(true);
  });
});
