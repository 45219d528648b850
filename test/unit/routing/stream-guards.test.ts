import { describe, expect, it } from 'vitest';
import type { ChatChunk } from '../../../src/core/chat-response.js';
import { guardStream, type StreamGuard } from '../../../src/routing/stream-guards.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const delta = (text: string): ChatChunk => ({ type: 'delta', index: 0, text });

function guard(chunks: AsyncIterable<ChatChunk>, opts: Partial<StreamGuard> = {}) {
  const seen = { ok: 0, failed: [] as string[], aborted: 0 };
  const g = guardStream(chunks, {
    provider: 'p',
    idleMs: 200,
    signal: new AbortController().signal,
    slot: { release() {} },
    ok: () => void seen.ok++,
    failed: (e) => void seen.failed.push(e.message),
    abortUpstream: () => void seen.aborted++,
    over() {},
    ...opts,
  });
  return { g, seen };
}

describe('stream guard timers', () => {
  it('times only the waits on the upstream: a slow reader of a steady upstream is not a stall', async () => {
    async function* steady() {
      for (let i = 0; i < 4; i++) {
        await sleep(60);
        yield delta(String(i));
      }
    }
    const { g, seen } = guard(steady());
    const got: string[] = [];
    // Each chunk takes the reader longer than idleMs (a slow client, a drain wait, a filter).
    for await (const c of g) {
      got.push((c as { text: string }).text);
      await sleep(300);
    }
    expect(got).toEqual(['0', '1', '2', '3']);
    expect(seen).toEqual({ ok: 1, failed: [], aborted: 0 });
  });

  it('fails a wait longer than idleMs, counted against the target, and closes the upstream', async () => {
    async function* stalls() {
      yield delta('a');
      await new Promise(() => {});
    }
    const { g, seen } = guard(stalls());
    const t0 = performance.now();
    const err = await (async () => {
      for await (const _ of g) await sleep(300);
    })().catch((e: Error) => e);
    expect((err as Error).message).toMatch(/stalled for 200 ms/);
    // 300 ms with the chunk, then 200 ms of waiting.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(450);
    expect(seen.failed).toHaveLength(1);
    expect(seen.aborted).toBe(1);
  });

  it('ends a stream that runs past maxStreamMs, whoever is slow, without counting it against the target', async () => {
    async function* forever() {
      for (;;) {
        await sleep(20);
        yield delta('x');
      }
    }
    const { g, seen } = guard(forever(), { maxMs: 400 });
    const err = await (async () => {
      for await (const _ of g) await sleep(50);
    })().catch((e: Error) => e);
    expect((err as { code?: string }).code).toBe('stream_too_long');
    expect(seen.failed).toEqual([]);
    expect(seen.aborted).toBe(1);
  });
});
