/**
 * The resume endpoint on a real HTTP server on 127.0.0.1: a producer route drives a resumable
 * stream as the chat handler does; a client is cut at a random event and resumes with
 * Last-Event-ID (on the same instance, or on another one sharing Redis).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';

import { identityOf } from '../../../src/edge/client-auth.js';
import { SSE_HEADERS } from '../../../src/edge/sse.js';
import type { Identity } from '../../../src/identity/types.js';
import { RedisConnection } from '../../../src/state/redis/redis-connection.js';
import { silentLogger } from '../../../src/state/state-logger.js';
import { redisSchema } from '../../../src/state/state-schema.js';
import { createResumableStreams, formatEvent, STREAM_ID_HEADER, writeFrame, type ResumableStreams } from '../../../src/streams/resumable-stream.js';
import { createMemoryStreamBuffer, createRedisStreamBuffer, DONE, type StreamBuffer } from '../../../src/streams/stream-buffer.js';
import type { StreamsConfig } from '../../../src/streams/streams-schema.js';
import { deletePrefix, TEST_REDIS_URL } from '../state/redis-test-support.js';
import { config, prng } from './stream-buffer-contract.js';

const N = 40;
const chunk = (i: number) => JSON.stringify({ choices: [{ index: 0, delta: { content: `tok${i} ` } }] });
const FULL = [...Array.from({ length: N }, (_, i) => chunk(i)), DONE];
const ABORTED = JSON.stringify({ error: { message: 'aborted', type: 'server_error', param: null, code: 'stream_interrupted' } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Instance {
  url: string;
  streams: ResumableStreams;
  /** Upstream calls aborted so far. */
  aborts: string[];
}

const servers: http.Server[] = [];
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  for (const c of closers) await c();
});

/** An app with a producer route (as the chat handler drives a stream) and the resume route. */
async function instance(buffer: StreamBuffer, cfg: StreamsConfig, paceMs = 3): Promise<Instance> {
  const streams = createResumableStreams({ buffer, cfg, logger: silentLogger });
  const aborts: string[] = [];
  const app = express();
  app.use((req, res, next) => {
    res.locals.identity = { kind: 'key', keyId: req.get('x-test-key') ?? 'k1' } satisfies Identity;
    next();
  });
  app.post('/produce', async (_req, res) => {
    const upstream = new AbortController();
    const s = await streams.begin(identityOf(res.locals).keyId, () => upstream.abort());
    upstream.signal.addEventListener('abort', () => aborts.push(s.id));
    res.on('close', () => s.detach());
    res.writeHead(200, { ...SSE_HEADERS, [STREAM_ID_HEADER]: s.id });
    const send = async (data: string) => writeFrame(res, formatEvent(await s.write(data), data));
    for (let i = 0; i < N && !upstream.signal.aborted; i++) {
      await send(chunk(i));
      await sleep(paceMs);
    }
    if (upstream.signal.aborted) await send(ABORTED);
    await send(DONE);
    await s.end();
    res.end();
  });
  app.get('/v1/chat/completions/streams/:id', streams.resumeHandler());
  const server = http.createServer(app);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => streams.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, streams, aborts };
}

interface Read {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: Array<{ id?: string; data: string }>;
  /** The id an EventSource would resume from: the last dispatched event's. */
  lastId?: string;
  body: string;
}

/** Reads SSE; with `cutAfter`, destroys the connection after that many events. */
function request(method: string, url: string, opts: { headers?: Record<string, string>; cutAfter?: number } = {}): Promise<Read> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: opts.headers }, (res) => {
      const out: Read = { status: res.statusCode ?? 0, headers: res.headers, events: [], body: '' };
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        out.body += text;
        pending += text;
        for (let at = pending.indexOf('\n\n'); at >= 0 && res.statusCode === 200; at = pending.indexOf('\n\n')) {
          const frame = pending.slice(0, at);
          pending = pending.slice(at + 2);
          const ev: { id?: string; data: string } = { data: '' };
          for (const line of frame.split('\n')) {
            if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('data: ')) ev.data = line.slice(6);
          }
          out.events.push(ev);
          if (ev.id !== undefined) out.lastId = ev.id;
          if (opts.cutAfter !== undefined && out.events.length >= opts.cutAfter) {
            req.destroy();
            return resolve(out);
          }
        }
      });
      res.on('end', () => resolve(out));
      res.on('error', () => resolve(out));
    });
    req.on('error', reject);
    req.end();
  });
}

async function cutAndResume(producer: Instance, resumer: Instance, cut: number, how: 'header' | 'query' = 'header') {
  const first = await request('POST', `${producer.url}/produce`, { cutAfter: cut });
  const id = first.headers[STREAM_ID_HEADER] as string;
  expect(first.lastId).toBe(`${id}.${cut}`);
  await sleep(Math.floor(Math.random() * 30));
  const url = `${resumer.url}/v1/chat/completions/streams/${id}`;
  const rest = how === 'header' ? await request('GET', url, { headers: { 'last-event-id': first.lastId! } }) : await request('GET', `${url}?after=${encodeURIComponent(first.lastId!)}`);
  expect(rest.status).toBe(200);
  expect(rest.headers['content-type']).toMatch(/^text\/event-stream/);
  return { id, first, rest, all: [...first.events, ...rest.events] };
}

describe('resume handler (memory buffer)', async () => {
  const cfg = config({ detachedTimeoutMs: 2_000 });
  const buffer = createMemoryStreamBuffer(cfg);
  closers.push(() => buffer.close());
  const one = await instance(buffer, cfg);

  it('cut at a random event and resumed with Last-Event-ID: the whole stream exactly once, in order', async () => {
    const seed = Date.now() % 100_000;
    const rand = prng(seed);
    for (let trial = 0; trial < 6; trial++) {
      const cut = 1 + Math.floor(rand() * (N - 1));
      const { id, all } = await cutAndResume(one, one, cut, trial % 3 === 2 ? 'query' : 'header');
      expect(all.map((e) => e.data), `seed ${seed}, cut ${cut}`).toEqual(FULL);
      expect(all.map((e) => e.id)).toEqual(FULL.map((_, i) => `${id}.${i + 1}`));
    }
    expect(one.aborts).toEqual([]);
  });

  it('resumes from the start without Last-Event-ID, also after the end', async () => {
    const first = await request('POST', `${one.url}/produce`);
    const id = first.headers[STREAM_ID_HEADER] as string;
    expect(first.events.map((e) => e.data)).toEqual(FULL);
    const again = await request('GET', `${one.url}/v1/chat/completions/streams/${id}`);
    expect(again.events.map((e) => e.data)).toEqual(FULL);
    const bare = await request('GET', `${one.url}/v1/chat/completions/streams/${id}`, { headers: { 'last-event-id': String(N) } });
    expect(bare.events.map((e) => e.data)).toEqual([DONE]);
    // After [DONE] an EventSource reconnects by itself: 204 tells it to stop.
    const after = await request('GET', `${one.url}/v1/chat/completions/streams/${id}`, { headers: { 'last-event-id': `${id}.${N + 1}` } });
    expect(after.status).toBe(204);
  });

  it('survives several cuts in a row: each resume is cut again, the last one finishes', async () => {
    const first = await request('POST', `${one.url}/produce`, { cutAfter: 3 });
    const id = first.headers[STREAM_ID_HEADER] as string;
    const parts = [first];
    for (let k = 0; k < 4; k++) {
      const r = await request('GET', `${one.url}/v1/chat/completions/streams/${id}`, { headers: { 'last-event-id': parts.at(-1)!.lastId! }, cutAfter: 1 + (k % 3) });
      expect(r.status).toBe(200);
      parts.push(r);
    }
    parts.push(await request('GET', `${one.url}/v1/chat/completions/streams/${id}`, { headers: { 'last-event-id': parts.at(-1)!.lastId! } }));
    expect(parts.flatMap((p) => p.events.map((e) => e.data))).toEqual(FULL);
    expect(one.streams.active()).toBe(0);
    expect(one.aborts).toEqual([]);
  });

  it('404s a missing stream and another key\'s, 400s a malformed or foreign Last-Event-ID', async () => {
    const first = await request('POST', `${one.url}/produce`);
    const id = first.headers[STREAM_ID_HEADER] as string;
    const other = await request('GET', `${one.url}/v1/chat/completions/streams/${id}`, { headers: { 'x-test-key': 'k2' } });
    expect(other.status).toBe(404);
    expect(JSON.parse(other.body).error).toMatchObject({ code: 'stream_not_found', type: 'invalid_request_error' });
    const missing = await request('GET', `${one.url}/v1/chat/completions/streams/strm_AAAAAAAAAAAAAAAAAAAAAA`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).error.code).toBe('stream_not_found');
    for (const bad of ['x', `${id}.x`, 'strm_BBBBBBBBBBBBBBBBBBBBBB.3', '-1']) {
      const r = await request('GET', `${one.url}/v1/chat/completions/streams/${id}`, { headers: { 'last-event-id': bad } });
      expect(r.status, bad).toBe(400);
      expect(JSON.parse(r.body).error.code).toBe('invalid_last_event_id');
    }
  });

  it('aborts the upstream when nobody resumes within detachedTimeoutMs; a late resume gets the end', async () => {
    const cfg2 = config({ detachedTimeoutMs: 100 });
    const buf2 = createMemoryStreamBuffer(cfg2);
    closers.push(() => buf2.close());
    const slow = await instance(buf2, cfg2, 20);
    const first = await request('POST', `${slow.url}/produce`, { cutAfter: 2 });
    const id = first.headers[STREAM_ID_HEADER] as string;
    await sleep(300);
    expect(slow.aborts).toEqual([id]);
    const late = await request('GET', `${slow.url}/v1/chat/completions/streams/${id}`, { headers: { 'last-event-id': first.lastId! } });
    const all = [...first.events, ...late.events].map((e) => e.data);
    expect(all.slice(-2)).toEqual([ABORTED, DONE]);
    expect(all.length - 2).toBeLessThan(N);
    expect(all.slice(0, -2)).toEqual(FULL.slice(0, all.length - 2));
  });
});

describe('resume handler (Redis, two instances)', async () => {
  const prefix = `llm-router-test:${process.pid}-${Date.now()}:strm:`;
  const cfg = config({ detachedTimeoutMs: 300 });
  const connA = new RedisConnection(redisSchema.parse({ url: TEST_REDIS_URL }));
  const connB = new RedisConnection(redisSchema.parse({ url: TEST_REDIS_URL }));
  await Promise.all([connA.waitReady(2_000), connB.waitReady(2_000)]);
  const bufA = createRedisStreamBuffer(cfg, { connection: connA, keyPrefix: prefix, blockMs: 50 });
  const bufB = createRedisStreamBuffer(cfg, { connection: connB, keyPrefix: prefix, blockMs: 50 });
  closers.push(async () => {
    await Promise.all([bufA.close(), bufB.close()]);
    await Promise.all([connA.close(), connB.close()]);
    await deletePrefix(TEST_REDIS_URL, prefix);
  });
  // Paced so the stream outlasts detachedTimeoutMs: only the reader on B keeps A's upstream going.
  const a = await instance(bufA, cfg, 15);
  const b = await instance(bufB, cfg, 15);

  it('resumed on another instance: the whole stream exactly once, and the upstream is not aborted', async () => {
    const rand = prng(Date.now() % 100_000);
    for (let trial = 0; trial < 3; trial++) {
      const cut = 1 + Math.floor(rand() * 10);
      const { id, all } = await cutAndResume(a, b, cut);
      expect(all.map((e) => e.data), `cut ${cut}`).toEqual(FULL);
      expect(all.map((e) => e.id)).toEqual(FULL.map((_, i) => `${id}.${i + 1}`));
    }
    expect(a.aborts).toEqual([]);
  });

  it('404s on another instance for another key', async () => {
    const first = await request('POST', `${a.url}/produce`, { cutAfter: 1 });
    const id = first.headers[STREAM_ID_HEADER] as string;
    const other = await request('GET', `${b.url}/v1/chat/completions/streams/${id}`, { headers: { 'x-test-key': 'k2' } });
    expect(other.status).toBe(404);
    await sleep(500);
    expect(a.aborts).toContain(id); // nobody resumed: aborted after detachedTimeoutMs
  });
});
