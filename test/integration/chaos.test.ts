import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetView } from '../../src/health/target-health.js';
import { adminClient, countByMarker, isChat, isProbe, markerOf, metricSum, sleep, until } from '../fixtures/chaos-helpers.js';
import { startFakeUpstream, type Behaviour, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

/**
 * Chaos: the real app, real HTTP, the official SDK, two fake upstreams. `flaky` fails in every
 * way an upstream fails before its first byte while `steady` always answers; apps must never
 * see it. Then the breaker opens, flaky recovers through probes, probation and shadow traffic,
 * and an operator drains and restores it. The phases run in order and share the router: each
 * starts from the state the previous one left (flaky open after chaos, healthy after recovery).
 */

const ADMIN_KEY = 'admin-key-chaos';
const APP_KEY = 'app-key-chaos';
const MODEL = 'gpt-4o-mini';
const FLAKY = { provider: 'flaky', model: MODEL };
const BREAKER = { errorPercent: 50, minRequests: 5, windowMs: 5000, openMs: 1000 };
const HEALTH = { intervalMs: 200, timeoutMs: 300 };
const SHADOW = { sampleRate: 1, promoteAfter: 5, maxConcurrent: 4, timeoutMs: 1000 };
const FLAKY_TIMEOUT_MS = 700;
const FIRST_TOKEN_MS = 600;
const IDLE_MS = 400;

/** What the app got for one request. */
interface Answer {
  route: string;
  marker: string;
  stream: boolean;
  /** performance.now() just before the SDK call. */
  startedAt: number;
  provider: string | null;
  fallback: string | null;
  attempts: string | null;
  content: string | null;
  finish: string | null;
  error?: string;
}

/**
 * Failures that happen before an answer's first byte (so the router may still fail over),
 * each with the error kind the fallback header must name and how many calls flaky must see
 * for the marker (2 attempts; 429 rotates through both keys per attempt, fewer when they rest).
 */
const MODES: Array<{ name: string; behaviour: Behaviour; kind: RegExp; calls: [number, number] }> = [
  { name: '500', behaviour: { status: 500 }, kind: /^server$/, calls: [2, 2] },
  { name: '503 after a pause', behaviour: { status: 503, delayMs: 40 }, kind: /^server$/, calls: [2, 2] },
  { name: '429 retry-after-ms', behaviour: { status: 429, headers: { 'retry-after-ms': '20' } }, kind: /^rate_limit$/, calls: [1, 4] },
  { name: 'cut before the first chunk', behaviour: { cutAfterChunks: 0 }, kind: /^(network|server)$/, calls: [2, 2] },
  { name: 'malformed first chunk', behaviour: { malformedChunk: true }, kind: /^server$/, calls: [2, 2] },
  { name: '200 with an error body', behaviour: { errorBody200: true }, kind: /^server$/, calls: [2, 2] },
  { name: 'slower than every timeout', behaviour: { delayMs: 1500 }, kind: /^timeout$/, calls: [2, 2] },
  { name: '429 retry-after 0', behaviour: { status: 429, headers: { 'retry-after': '0' } }, kind: /^rate_limit$/, calls: [1, 4] },
];

// Chaos load plan.
const CONCURRENCY = 8;
/** Requests of phase A: flaky healthy, one marker in six fails every call (after a clean warm-up). */
const PHASE_A = 120;
const WARMUP = 12;
const MIN_REQUESTS = 240;
const MAX_REQUESTS = 360;

/** Phase A: which marker fails how, and whether it streams (each mode gets both). */
function planFor(seq: number): { stream: boolean; mode?: (typeof MODES)[number] } {
  if (seq >= PHASE_A || seq < WARMUP || seq % 6 !== 5) return { stream: seq % 2 === 0 };
  const k = Math.floor(seq / 6);
  return { stream: (k + Math.floor(k / MODES.length)) % 2 === 0, mode: MODES[k % MODES.length]! };
}

describe('chaos: failover, breaker, probes, probation and shadow traffic under a failing upstream', () => {
  let flaky: FakeUpstream;
  let steady: FakeUpstream;
  let h: RouterHarness;
  let client: OpenAI;
  let admin: ReturnType<typeof adminClient>;
  /** Every answer the apps got on route `chat`, across phases (for the metrics cross-check). */
  const chatAnswers: Answer[] = [];

  beforeAll(async () => {
    flaky = await startFakeUpstream();
    steady = await startFakeUpstream();
    const routeCommon = `
    retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 50 }
    timeoutMs: 10000
    firstTokenTimeoutMs: ${FIRST_TOKEN_MS}
    idleTimeoutMs: ${IDLE_MS}`;
    h = await startRouter(`
auth: { keys: [${APP_KEY}], adminKeys: [${ADMIN_KEY}] }
providers:
  flaky:  { kind: openai, apiKeys: [sk-flaky-key-one, sk-flaky-key-two], baseURL: "${flaky.url}/v1", timeoutMs: ${FLAKY_TIMEOUT_MS}, keyCooldownMs: 1000 }
  # The fallback's timeout is roomier: its job is to answer, and a loaded CI box is not an outage.
  steady: { kind: azure-openai, endpoint: "${steady.url}", apiKey: steady-azure-key, deployments: { ${MODEL}: steady-deploy }, timeoutMs: 3000 }
routes:
  chat:
    targets: [{ provider: flaky, model: ${MODEL} }, { provider: steady, model: ${MODEL} }]${routeCommon}
    breaker: ${JSON.stringify(BREAKER)}
    healthCheck: ${JSON.stringify(HEALTH)}
    shadow: ${JSON.stringify(SHADOW)}
  # Own targets (own breakers), so failures here never touch the chat route's flaky target; and
  # breakers that never open, so no probe of theirs reaches flaky during the later phases.
  mid:
    targets: [{ provider: flaky, model: mid-model }, { provider: steady, model: mid-model }]${routeCommon}
    breaker: { minRequests: 1000 }
  # For the known-bug check below: a breaker that opens at 60 % errors.
  cut60:
    targets: [{ provider: flaky, model: cut-model }]${routeCommon}
    breaker: { errorPercent: 60, minRequests: 4, windowMs: 60000, openMs: 600000 }
`);
    client = new OpenAI({ baseURL: h.baseURL, apiKey: APP_KEY, maxRetries: 0, timeout: 15_000 });
    admin = adminClient(h.url, ADMIN_KEY);
  });
  afterAll(async () => {
    await h?.close();
    await flaky?.close();
    await steady?.close();
  });

  /** One app request through the SDK; never throws (errors are recorded on the answer). */
  async function ask(route: string, marker: string, stream: boolean): Promise<Answer> {
    const messages = [{ role: 'user' as const, content: marker }];
    const a: Answer = { route, marker, stream, startedAt: performance.now(), provider: null, fallback: null, attempts: null, content: null, finish: null };
    try {
      let headers: Headers;
      if (stream) {
        const { data, response } = await client.chat.completions.create({ model: route, messages, stream: true, stream_options: { include_usage: true } }).withResponse();
        headers = response.headers;
        let text = '';
        for await (const c of data) {
          text += c.choices[0]?.delta.content ?? '';
          a.finish = c.choices[0]?.finish_reason ?? a.finish;
        }
        a.content = text;
      } else {
        const { data, response } = await client.chat.completions.create({ model: route, messages }).withResponse();
        headers = response.headers;
        a.content = data.choices[0]?.message.content ?? null;
        a.finish = data.choices[0]?.finish_reason ?? null;
      }
      a.provider = headers.get('x-router-provider');
      a.fallback = headers.get('x-router-fallback');
      a.attempts = headers.get('x-router-attempts');
    } catch (err) {
      a.error = `${(err as Error).name}: ${(err as Error).message}`;
    }
    if (route === 'chat') chatAnswers.push(a);
    return a;
  }

  const flakyView = (): Promise<TargetView> => admin.target(FLAKY.provider, FLAKY.model);
  const flakyPath = `/targets/${FLAKY.provider}/${FLAKY.model}`;
  const metrics = async (): Promise<string> => (await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text();
  const rand = () => Math.random().toString(36).slice(2, 8);
  /** Each answer is the echo of its own marker, whole. */
  const expectOwnAnswer = (a: Answer) => {
    expect(a.error, a.marker).toBeUndefined();
    expect(a.content, a.marker).toBe(`echo: ${a.marker}`);
    expect(a.finish, a.marker).toBe('stop');
  };

  it('mid-stream: a stream cut or stalled after its first bytes ends with an error the SDK raises, and is not replayed elsewhere', async () => {
    const messages = (m: string) => [{ role: 'user' as const, content: m }];

    const cut = `mid-cut-${rand()}`;
    flaky.script({ cutAfterChunks: 2 });
    const { data: s1, response: r1 } = await client.chat.completions.create({ model: 'mid', messages: messages(cut), stream: true }).withResponse();
    expect(r1.headers.get('x-router-provider')).toBe('flaky');
    let text = '';
    await expect(
      (async () => {
        for await (const c of s1) text += c.choices[0]?.delta.content ?? '';
      })(),
    ).rejects.toThrow(/interrupted/);
    // The app had bytes already (so no failover was possible) and was told, not left with a silent end.
    expect(text).toBe('echo: ');

    const stall = `mid-stall-${rand()}`;
    flaky.script({ stallAfterChunks: 2, stallMs: 1500 });
    const { data: s2 } = await client.chat.completions.create({ model: 'mid', messages: messages(stall), stream: true }).withResponse();
    const t0 = performance.now();
    await expect(
      (async () => {
        for await (const _ of s2) {
          /* drain */
        }
      })(),
    ).rejects.toThrow(/stalled/);
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(waited).toBeLessThan(2500);

    // Neither answer was started a second time on the fallback: the app would have got two.
    const onSteady = countByMarker(steady.requests);
    expect(onSteady.get(cut) ?? 0).toBe(0);
    expect(onSteady.get(stall) ?? 0).toBe(0);

    const text2 = await metrics();
    expect(metricSum(text2, 'llm_router_stream_errors_total', { route: 'mid', provider: 'flaky', kind: 'timeout' })).toBe(1);
    expect(metricSum(text2, 'llm_router_stream_errors_total', { route: 'mid', provider: 'flaky' })).toBe(2);
    expect(metricSum(text2, 'llm_router_requests_total', { route: 'mid', outcome: 'stream_timeout' })).toBe(1);
  });

  // A stalled upstream's chunk iterator never sees return() (it is suspended awaiting the next
  // event), so the router aborts the upstream call itself when it gives up on a stream.
  it('closes the upstream call of a stream given up on as stalled', async () => {
    const marker = `mid-stall-leak-${rand()}`;
    flaky.script({ stallAfterChunks: 2, stallMs: 1500 });
    const stream = await client.chat.completions.create({ model: 'mid', messages: [{ role: 'user', content: marker }], stream: true });
    await expect(
      (async () => {
        for await (const _ of stream) {
          /* drain */
        }
      })(),
    ).rejects.toThrow(/stalled/);
    await until('the stalled upstream call to be closed', () => flaky.chatRequests().find((r) => markerOf(r) === marker)?.clientClosed, 800);
  });

  // A stream counts once against its target, when it ends: a target whose every stream dies
  // after its first chunk shows 100 % errors, not 50 %, and a 60 % breaker opens.
  it('opens a 60 % breaker on a target whose every stream is cut after its first chunk', async () => {
    flaky.scriptAlways((rec) => (isChat(rec) && markerOf(rec)?.startsWith('cut60-') ? { cutAfterChunks: 2 } : undefined));
    try {
      // minRequests is 4: four broken streams (100 % errors) open it.
      for (let i = 0; i < 4; i++) {
        const stream = await client.chat.completions.create({ model: 'cut60', messages: [{ role: 'user', content: `cut60-${i}` }], stream: true });
        await expect(
          (async () => {
            for await (const _ of stream) {
              /* drain */
            }
          })(),
        ).rejects.toThrow(/interrupted/);
      }
      const v = await until('the cut60 breaker to open', async () => {
        const t = await admin.target('flaky', 'cut-model');
        return t.state === 'open' ? t : undefined;
      }, 2000);
      expect(v.breaker).toMatchObject({ failures: 4, calls: 4 });
      // Open: the app now gets a fast 503 rather than another broken stream.
      const err = (await client.chat.completions.create({ model: 'cut60', messages: [{ role: 'user', content: 'cut60-after' }], stream: true }).catch((e: unknown) => e)) as { status?: number };
      expect(err.status).toBe(503);
    } finally {
      flaky.scriptAlways(undefined);
    }
  });

  it('chaos: a few hundred mixed requests while flaky fails every way before the first byte, then goes hard down — zero app errors, and the breaker cuts flaky off', async () => {
    flaky.reset();
    steady.reset();
    const answers: Answer[] = [];
    const failing = new Map<string, (typeof MODES)[number]>();
    let flakyState: 'chaos' | 'failing' = 'chaos';
    flaky.scriptAlways((rec) => {
      // After the hard-down part: alive again but still failing (chat 500, probes 503).
      if (flakyState === 'failing') return { status: rec.method === 'GET' ? 503 : 500 };
      if (!isChat(rec)) return undefined;
      const m = markerOf(rec);
      return m === undefined ? undefined : failing.get(m)?.behaviour;
    });

    // ---- load: CONCURRENCY workers; phase B requests wait for the director to take flaky down.
    let issued = 0;
    let doneA = 0;
    let directorDone = false;
    let openSeenAt = Number.POSITIVE_INFINITY;
    let releaseB!: () => void;
    const phaseBReady = new Promise<void>((resolve) => (releaseB = resolve));
    const loadDeadline = performance.now() + 30_000;
    const nextSeq = (): number | undefined => {
      if (issued >= MAX_REQUESTS || performance.now() > loadDeadline) return undefined;
      if (directorDone && issued >= MIN_REQUESTS) return undefined;
      return issued++;
    };
    const worker = async () => {
      for (;;) {
        const seq = nextSeq();
        if (seq === undefined) return;
        const plan = planFor(seq);
        const marker = `chaos-${String(seq).padStart(4, '0')}-${rand()}`;
        if (plan.mode) failing.set(marker, plan.mode);
        if (seq >= PHASE_A) await phaseBReady;
        answers.push(await ask('chat', marker, plan.stream));
        if (seq < PHASE_A) doneA++;
        // Once flaky is cut off, pace the load so it spans the probes (openMs and beyond).
        else if (performance.now() > openSeenAt) await sleep(100);
      }
    };

    // ---- director: phase A → hard down → breaker open → probes fail → up, still failing.
    const director = async () => {
      try {
        await until('phase A answered', () => doneA === PHASE_A, 20_000, 10);
        const afterA = await flakyView();
        const aIdx = flaky.requests.length;
        // No request is in flight here, so going down cuts no stream after its first byte.
        const downAt = performance.now();
        await flaky.down();
        releaseB();
        const openView = await until('breaker open', async () => {
          const v = await flakyView();
          return v.state === 'open' && v;
        }, BREAKER.windowMs + 3000, 10);
        openSeenAt = performance.now();
        const openedAfterMs = openSeenAt - downAt;
        // Down: probes start after openMs and fail (connection refused, so flaky records nothing).
        const downProbe = await until('a probe failing while down', async () => {
          const v = await flakyView();
          return v.probes.failed >= 1 && v;
        }, BREAKER.openMs + 3000);
        flakyState = 'failing';
        const upIdx = flaky.requests.length;
        const issuedAtUp = issued;
        await flaky.up();
        await until('two probes answered 503 after up', () => flaky.requests.slice(upIdx).filter(isProbe).length >= 2, 5000);
        await until('some load while up and failing', () => issued >= Math.min(issuedAtUp + 2 * CONCURRENCY, MAX_REQUESTS), 5000, 10);
        return { afterA, aIdx, openView, openedAfterMs, downProbe, upIdx };
      } finally {
        directorDone = true;
        releaseB();
      }
    };

    const t0 = performance.now();
    const [d] = await Promise.all([director(), ...Array.from({ length: CONCURRENCY }, worker)]);
    const loadMs = performance.now() - t0;
    const stillFailing = await flakyView();

    // ---- every app request succeeded with its own answer, exactly once.
    const errors = answers.filter((a) => a.error);
    expect(errors.map((a) => `${a.marker} (stream ${a.stream}): ${a.error}`).slice(0, 5)).toEqual([]);
    expect(answers.length).toBe(issued);
    expect(issued).toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect(new Set(answers.map((a) => a.marker)).size).toBe(answers.length);
    for (const a of answers) expectOwnAnswer(a);

    // ---- no marker lost, none served twice: the serving upstream saw it, steady at most once.
    const onSteady = countByMarker(steady.requests);
    const onFlaky = countByMarker(flaky.requests);
    for (const a of answers) {
      expect(a.provider === 'flaky' || a.provider === 'steady', a.marker).toBe(true);
      if (a.provider === 'steady') expect(onSteady.get(a.marker), a.marker).toBe(1);
      else {
        expect(onSteady.get(a.marker) ?? 0, a.marker).toBe(0);
        expect(onFlaky.get(a.marker) ?? 0, a.marker).toBeGreaterThanOrEqual(1);
      }
    }
    expect(steady.requests.every((r) => r.path === '/openai/deployments/steady-deploy/chat/completions')).toBe(true);

    // ---- phase A: each scripted failure failed over to steady, naming flaky and the kind.
    const phaseA = answers.filter((a) => Number(a.marker.slice(6, 10)) < PHASE_A);
    const failed = phaseA.filter((a) => failing.has(a.marker));
    expect(failed.length).toBe(18);
    const seenModes = new Set<string>();
    let collateral = 0;
    for (const a of failed) {
      const mode = failing.get(a.marker)!;
      seenModes.add(`${mode.name}/${a.stream ? 'stream' : 'json'}`);
      const why = `${a.marker} ${mode.name} stream=${a.stream} attempts=${a.attempts} fallback=${a.fallback} flaky calls=${onFlaky.get(a.marker) ?? 0}`;
      expect(a.provider, why).toBe('steady');
      const [from, kind] = (a.fallback ?? '').split(':');
      expect(from, why).toBe('flaky/gpt-4o-mini');
      const calls = onFlaky.get(a.marker) ?? 0;
      expect(calls, why).toBeLessThanOrEqual(mode.calls[1]);
      // A 429 elsewhere may have left both keys resting: such an attempt fails as rate_limit
      // without a call (the router waits out a short rest, else moves on). Otherwise the last
      // attempt reached flaky and failed the scripted way.
      if (mode.kind.test(kind ?? '')) expect(calls, why).toBeGreaterThanOrEqual(mode.kind.test('rate_limit') ? 0 : 1);
      else expect(kind, why).toBe('rate_limit');
      if (calls < mode.calls[0]) collateral++;
    }
    // That happens, but seldom.
    expect(collateral).toBeLessThanOrEqual(failed.length / 2);
    // Every failure mode was met both streamed and not.
    expect(seenModes.size).toBe(MODES.length * 2);
    // The others were served by flaky, unless its keys were resting after another marker's 429.
    for (const a of phaseA.filter((x) => !failing.has(x.marker))) {
      if (a.provider !== 'flaky') expect(a.fallback, a.marker).toBe('flaky/gpt-4o-mini:rate_limit');
    }
    expect(phaseA.filter((a) => !failing.has(a.marker) && a.provider === 'flaky').length).toBeGreaterThan((PHASE_A - failed.length) * 0.8);
    // One failure in six stays under errorPercent: the breaker held through phase A.
    expect(d.afterA.state).toBe('healthy');
    expect(d.afterA.breaker.failures).toBeGreaterThan(0);
    expect(d.afterA.breaker.errorPercent).toBeLessThan(BREAKER.errorPercent);

    // ---- phase B: hard down; the breaker opened within its window.
    expect(d.openedAfterMs).toBeLessThan(BREAKER.windowMs);
    expect(d.openView.lastError).toMatchObject({ source: 'live', kind: 'network' });
    expect(d.openView.openedAt).not.toBeNull();
    expect(d.openView.breaker.calls).toBeGreaterThanOrEqual(BREAKER.minRequests);
    expect(d.openView.breaker.errorPercent).toBeGreaterThanOrEqual(BREAKER.errorPercent);
    // (A probe may also time out on a starved box: outcome timeout.)
    expect(d.downProbe.probes.last?.outcome).toMatch(/^(fail|timeout)$/);
    const refused = answers.filter((a) => a.fallback === 'flaky/gpt-4o-mini:network');
    expect(refused.length).toBeGreaterThan(0);
    // While flaky is down nothing reaches it, and once it is back no live call does: probes only.
    expect(d.upIdx).toBe(d.aIdx);
    const sinceUp = flaky.requests.slice(d.upIdx);
    expect(sinceUp.filter(isChat)).toEqual([]);
    expect(sinceUp.every((r) => isProbe(r) && r.path === '/v1/models')).toBe(true);
    expect(sinceUp.length).toBeGreaterThanOrEqual(2);
    // Requests that started after the breaker was seen open never even tried flaky.
    const cutOff = answers.filter((a) => a.startedAt > openSeenAt);
    expect(cutOff.length).toBeGreaterThanOrEqual(2 * CONCURRENCY);
    for (const a of cutOff) {
      expect(a.provider, a.marker).toBe('steady');
      expect(a.attempts, a.marker).toBe('1; targets=1');
      expect(a.fallback, a.marker).toBeNull();
    }
    expect(stillFailing.state).toBe('open');
    expect(stillFailing.breaker.rejects).toBeGreaterThan(0);
    expect(stillFailing.probes.failed).toBeGreaterThanOrEqual(2);
    expect(stillFailing.probes.passed).toBe(0);
    expect(stillFailing.probes.last?.outcome).toMatch(/^(fail|timeout)$/);
    if (stillFailing.probes.last?.outcome === 'fail') expect(stillFailing.probes.last.detail).toMatch(/503/);

    const m = await metrics();
    expect(metricSum(m, 'llm_router_breaker_transitions_total', { provider: 'flaky', model: MODEL, from: 'healthy', to: 'open' })).toBe(1);
    expect(metricSum(m, 'llm_router_breaker_state', { provider: 'flaky', model: MODEL, state: 'open' })).toBe(1);
    expect(metricSum(m, 'llm_router_breaker_state', { provider: 'flaky', model: MODEL, state: 'healthy' })).toBe(0);
    for (const kind of ['server', 'network', 'timeout', 'rate_limit']) {
      expect(metricSum(m, 'llm_router_fallbacks_total', { route: 'chat', from: 'flaky/gpt-4o-mini', to: 'steady/gpt-4o-mini', kind }), kind).toBeGreaterThan(0);
    }
    console.info(`chaos load: ${answers.length} requests in ${Math.round(loadMs)} ms; breaker open ${Math.round(d.openedAfterMs)} ms after flaky went down; ${answers.filter((a) => a.provider === 'flaky').length} served by flaky`);
  }, 45_000);

  it('recovery: probes pass → probation; live traffic stays on steady while flaky gets shadow copies; after promoteAfter good ones flaky serves again', async () => {
    flaky.scriptAlways(undefined);
    const probation = await until('probation', async () => {
      const v = await flakyView();
      return v.state === 'probation' && v;
    }, 10_000);
    expect(probation.probation).toEqual({ good: 0, promoteAfter: SHADOW.promoteAfter, sampleRate: SHADOW.sampleRate });
    expect(probation.probes.passed).toBe(1);
    const fromIdx = flaky.requests.length;

    // Live requests while on probation: at least promoteAfter of them can only be steady's, since
    // promotion needs that many good shadow copies and each live request makes at most one.
    const live: Answer[] = [];
    for (let i = 0; i < 30; i++) {
      const v = await flakyView();
      if (v.state !== 'probation') break;
      const a = await ask('chat', `recover-${i}-${rand()}`, i % 2 === 0);
      live.push(a);
      expectOwnAnswer(a);
      if (i < SHADOW.promoteAfter) expect(a.provider, a.marker).toBe('steady');
      if (a.provider === 'flaky') break;
    }
    expect(live.length).toBeGreaterThanOrEqual(SHADOW.promoteAfter);
    const healthy = await until('promoted back to healthy', async () => {
      const v = await flakyView();
      return v.state === 'healthy' && v;
    }, 5000);
    expect(healthy.shadow.good).toBeGreaterThanOrEqual(SHADOW.promoteAfter);
    expect(healthy.shadow.bad).toBe(0);
    expect(healthy.probation).toBeNull();

    // The shadow copies: one per live request answered by steady, streamed as the live one was
    // (time to first token is measured), never asking the app's usage chunk, same messages.
    const servedBySteady = new Map(live.filter((a) => a.provider === 'steady').map((a) => [a.marker, a]));
    const onSteady = countByMarker(steady.requests);
    for (const a of servedBySteady.values()) expect(onSteady.get(a.marker), a.marker).toBe(1);
    const copies = flaky.requests.slice(fromIdx).filter((r) => isChat(r) && servedBySteady.has(markerOf(r)!));
    expect(copies.length).toBeGreaterThanOrEqual(SHADOW.promoteAfter);
    expect(new Set(copies.map(markerOf)).size).toBe(copies.length);
    for (const c of copies) {
      const body = c.body as Record<string, unknown>;
      const live = servedBySteady.get(markerOf(c)!)!;
      expect(body.stream ?? false).toBe(live.stream);
      // The adapter asks upstream usage on every stream (for metering), shadow or not.
      if (live.stream) expect(body.stream_options).toEqual({ include_usage: true });
      else expect(body.stream_options).toBeUndefined();
      expect(body.messages).toEqual([{ role: 'user', content: markerOf(c) }]);
    }
    // Streamed live requests were mirrored as streams, and their time to first token recorded.
    expect(copies.some((c) => servedBySteady.get(markerOf(c)!)?.stream)).toBe(true);
    expect(copies.some((c) => !servedBySteady.get(markerOf(c)!)?.stream)).toBe(true);

    // Healthy again: live traffic goes to flaky first, and steady sees none of it.
    const back: Answer[] = [];
    for (let i = 0; i < 4; i++) back.push(await ask('chat', `healthy-${i}-${rand()}`, i % 2 === 0));
    const steadyNow = countByMarker(steady.requests);
    for (const a of back) {
      expectOwnAnswer(a);
      expect(a.provider, a.marker).toBe('flaky');
      expect(a.attempts, a.marker).toBe('1; targets=1');
      expect(steadyNow.get(a.marker) ?? 0).toBe(0);
    }

    const m = await metrics();
    expect(metricSum(m, 'llm_router_breaker_transitions_total', { provider: 'flaky', model: MODEL, from: 'open', to: 'probation' })).toBe(1);
    expect(metricSum(m, 'llm_router_breaker_transitions_total', { provider: 'flaky', model: MODEL, from: 'probation', to: 'healthy' })).toBe(1);
    expect(metricSum(m, 'llm_router_shadow_calls_total', { provider: 'flaky', model: MODEL, outcome: 'good' })).toBeGreaterThanOrEqual(SHADOW.promoteAfter);
  }, 30_000);

  it('operator: drain holds flaky (no live calls, no probes), shows why; restore brings it back; release makes it earn its way back', async () => {
    const drained = await admin.post(`${flakyPath}/drain`, { reason: 'chaos drill: upstream maintenance' });
    expect(drained.status).toBe(200);
    expect(drained.json).toMatchObject({ state: 'drained', drain: { reason: 'chaos drill: upstream maintenance', by: 'key-0' } });

    const view = await flakyView();
    expect(view.state).toBe('drained');
    expect(view.drain).toMatchObject({ reason: 'chaos drill: upstream maintenance', by: 'key-0' });
    expect(view.openedAt).not.toBeNull();
    expect(view.probes.next).toBeNull();
    // The last error seen stays on show (chaos left one).
    expect(view.lastError).toMatchObject({ source: expect.stringMatching(/^(live|probe|shadow)$/), kind: expect.any(String), message: expect.stringContaining('flaky') });

    // Well over three probe intervals of traffic: steady serves everything, flaky sees nothing.
    const idx = flaky.requests.length;
    const t0 = performance.now();
    const held: Answer[] = [];
    for (let i = 0; i < 8 || performance.now() - t0 < 4 * HEALTH.intervalMs; i++) {
      held.push(await ask('chat', `drained-${i}-${rand()}`, i % 2 === 1));
      await sleep(25);
    }
    for (const a of held) {
      expectOwnAnswer(a);
      expect(a.provider, a.marker).toBe('steady');
      expect(a.attempts, a.marker).toBe('1; targets=1');
    }
    expect(flaky.requests.slice(idx).map((r) => `${r.method} ${r.path} ${markerOf(r) ?? ''}`)).toEqual([]);

    const restored = await admin.post(`${flakyPath}/restore`);
    expect(restored.status).toBe(200);
    expect(restored.json).toMatchObject({ state: 'healthy', drain: null });
    const again = await ask('chat', `restored-${rand()}`, true);
    expectOwnAnswer(again);
    expect(again.provider).toBe('flaky');

    // Release: drained → open; probes resume after openMs, pass, and probation follows.
    expect((await admin.post(`${flakyPath}/release`)).status).toBe(409);
    await admin.post(`${flakyPath}/drain`, {});
    const relIdx = flaky.requests.length;
    const released = await admin.post(`${flakyPath}/release`);
    expect(released.status).toBe(200);
    expect(released.json).toMatchObject({ state: 'open' });
    expect((released.json as TargetView).probes.next).not.toBeNull();
    await until('probation after release', async () => (await flakyView()).state === 'probation', BREAKER.openMs + 5000);
    const sinceRelease = flaky.requests.slice(relIdx);
    expect(sinceRelease.length).toBeGreaterThanOrEqual(1);
    expect(sinceRelease.every(isProbe)).toBe(true);
    expect((await admin.post(`${flakyPath}/restore`)).json).toMatchObject({ state: 'healthy' });
    const last = await ask('chat', `restored-again-${rand()}`, false);
    expectOwnAnswer(last);
    expect(last.provider).toBe('flaky');

    // Bad operator input gets OpenAI-shaped errors.
    const unknown = await admin.post('/targets/nope/gpt-4o-mini/drain', {});
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ error: { type: 'invalid_request_error', code: 'target_not_found' } });
    const badReason = await admin.post(`${flakyPath}/drain`, { reason: 42 });
    expect(badReason.status).toBe(400);
    expect(badReason.json).toMatchObject({ error: { param: 'reason', code: 'invalid_value' } });
    expect((await flakyView()).state).toBe('healthy');
  }, 30_000);

  it('admin endpoints refuse callers without the admin key, in the OpenAI error shape', async () => {
    const shape = { error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'invalid_api_key' } };
    for (const key of [null, APP_KEY, 'wrong-key']) {
      const drain = await admin.call('POST', `${flakyPath}/drain`, { reason: 'not allowed' }, key);
      expect(drain.status, String(key)).toBe(401);
      expect(await drain.json()).toEqual(shape);
      const list = await admin.call('GET', '/targets', undefined, key);
      expect(list.status, String(key)).toBe(401);
      expect(await list.json()).toEqual(shape);
    }
    expect((await flakyView()).state).toBe('healthy');
  });

  it('metrics: breaker state and transitions, fallbacks, and shadow calls and tokens counted apart from live traffic', async () => {
    const m = await metrics();
    const f = { provider: 'flaky', model: MODEL };
    expect(metricSum(m, 'llm_router_breaker_state', { ...f, state: 'healthy' })).toBe(1);
    for (const state of ['open', 'probation', 'drained']) expect(metricSum(m, 'llm_router_breaker_state', { ...f, state }), state).toBe(0);
    expect(metricSum(m, 'llm_router_breaker_state', { provider: 'steady', model: MODEL, state: 'healthy' })).toBe(1);
    const t = (from: string, to: string) => metricSum(m, 'llm_router_breaker_transitions_total', { ...f, from, to });
    expect(t('healthy', 'open')).toBe(1);
    expect(t('open', 'probation')).toBe(2);
    expect(t('probation', 'healthy')).toBe(2);
    expect(t('healthy', 'drained')).toBe(2);
    expect(t('drained', 'healthy')).toBe(1);
    expect(t('drained', 'open')).toBe(1);
    expect(metricSum(m, 'llm_router_breaker_transitions_total', { provider: 'steady' })).toBe(0);
    expect(metricSum(m, 'llm_router_health_probes_total', { ...f, outcome: 'pass' })).toBe(2);
    // Failed or timed out: refused while down, 503 once up.
    expect(metricSum(m, 'llm_router_health_probes_total', f) - 2).toBeGreaterThanOrEqual(3);
    expect(metricSum(m, 'llm_router_fallbacks_total', { route: 'chat', from: 'flaky/gpt-4o-mini', to: 'steady/gpt-4o-mini' })).toBeGreaterThan(0);

    // Shadow calls: their own counter and latency, their own token series.
    const goodShadows = metricSum(m, 'llm_router_shadow_calls_total', { ...f, outcome: 'good' });
    expect(goodShadows).toBeGreaterThanOrEqual(SHADOW.promoteAfter);
    expect(metricSum(m, 'llm_router_shadow_duration_seconds_count', f)).toBeGreaterThanOrEqual(goodShadows);
    for (const type of ['prompt', 'completion']) {
      expect(metricSum(m, 'llm_router_tokens_total', { route: 'chat', provider: 'flaky', type, traffic: 'shadow' }), type).toBeGreaterThan(0);
      expect(metricSum(m, 'llm_router_tokens_total', { route: 'chat', provider: 'steady', type, traffic: 'shadow' }), type).toBe(0);
      expect(metricSum(m, 'llm_router_tokens_total', { route: 'chat', provider: 'flaky', type, traffic: 'live' }), type).toBeGreaterThan(0);
    }
    // Requests count what apps got, and only that: shadow calls add no request, no failure.
    const servedBy = (p: string) => chatAnswers.filter((a) => !a.error && a.provider === p).length;
    expect(chatAnswers.every((a) => !a.error)).toBe(true);
    expect(metricSum(m, 'llm_router_requests_total', { route: 'chat' })).toBe(chatAnswers.length);
    expect(metricSum(m, 'llm_router_requests_total', { route: 'chat', provider: 'flaky', outcome: 'ok' })).toBe(servedBy('flaky'));
    expect(metricSum(m, 'llm_router_requests_total', { route: 'chat', provider: 'steady', outcome: 'ok' })).toBe(servedBy('steady'));
    expect(metricSum(m, 'llm_router_stream_errors_total', { route: 'chat' })).toBe(0);
  });
});
