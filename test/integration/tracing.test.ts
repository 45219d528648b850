import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter, type RouterHarness } from '../fixtures/router-harness.js';

type OtlpSpan = { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes: Array<{ key: string; value: Record<string, unknown> }> };

/** An in-process OTLP/HTTP receiver: keeps every span it is sent. */
async function startReceiver() {
  const spans: OtlpSpan[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      } catch {
        /* a protobuf body would not parse: the test then fails on missing spans */
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { spans, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v ? (v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue) : undefined;
};

describe('OpenTelemetry traces', () => {
  let primary: FakeUpstream;
  let backup: FakeUpstream;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let h: RouterHarness;

  beforeAll(async () => {
    primary = await startFakeUpstream();
    backup = await startFakeUpstream();
    receiver = await startReceiver();
    h = await startRouter(`
tracing: { otlpEndpoint: "${receiver.url}", serviceName: router-under-test }
providers:
  primary: { kind: openai, apiKeys: [sk-1], baseURL: "${primary.url}/v1" }
  backup: { kind: openai, apiKeys: [sk-2], baseURL: "${backup.url}/v1" }
routes:
  chat:
    targets: [{ provider: primary, model: gpt-4o-mini }, { provider: backup, model: gpt-4o-mini }]
    retry: { attempts: 1 }
    breaker: { minRequests: 1000 }
`);
  });
  afterAll(async () => {
    await h?.close();
    await primary?.close();
    await backup?.close();
    await receiver?.close();
  });

  it('one server span per request under the app\'s traceparent, a child per attempt (fallback marked) and per policy, GenAI attributes', async () => {
    primary.script({ status: 500 });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const res = await fetch(`${h.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${parent}-01` },
      body: JSON.stringify({ model: 'chat', max_tokens: 20, messages: [{ role: 'user', content: 'trace me' }] }),
    });
    expect(res.status).toBe(200);
    const deadline = Date.now() + 8_000;
    while (Date.now() < deadline && !receiver.spans.some((s) => s.name === 'chat' && s.traceId === traceId)) await new Promise((r) => setTimeout(r, 100));
    const mine = receiver.spans.filter((s) => s.traceId === traceId);
    const server = mine.find((s) => s.name === 'chat')!;
    expect(server).toBeDefined();
    expect(server.parentSpanId).toBe(parent);
    expect(server.kind).toBe(2); // SERVER
    expect(attr(server, 'gen_ai.operation.name')).toBe('chat');
    expect(attr(server, 'gen_ai.request.model')).toBe('chat');
    expect(attr(server, 'gen_ai.response.model')).toBe('gpt-4o-mini');
    expect(Number(attr(server, 'gen_ai.usage.output_tokens'))).toBeGreaterThan(0);
    const attempts = mine.filter((s) => s.name === 'chat gpt-4o-mini');
    expect(attempts.map((s) => [attr(s, 'gen_ai.provider.name'), attr(s, 'llm_router.outcome'), attr(s, 'llm_router.fallback')])).toEqual([
      ['primary', 'server', false],
      ['backup', 'ok', true],
    ]);
    expect(attempts.every((s) => s.parentSpanId === server.spanId)).toBe(true);
    // Policy steps that ran are children too (limits always; no session header, no cache: none of those).
    expect(mine.find((s) => s.name === 'limits')?.parentSpanId).toBe(server.spanId);
    expect(mine.some((s) => s.name === 'session' || s.name === 'cache_lookup')).toBe(false);
    // The upstream call carries the trace on.
    const sent = backup.chatRequests()[0]!.headers.traceparent as string | undefined;
    expect(sent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });
});

describe('OpenTelemetry traces switched by a config reload', () => {
  let upstream: FakeUpstream;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let h: RouterHarness;
  const config = (tracing: string) => `
${tracing}
providers:
  primary: { kind: openai, apiKeys: [sk-1], baseURL: "${upstream.url}/v1" }
routes:
  chat:
    targets: [{ provider: primary, model: gpt-4o-mini }]
    retry: { attempts: 1 }
`;
  const send = async (traceId: string) => {
    const res = await fetch(`${h.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      body: JSON.stringify({ model: 'chat', max_tokens: 5, messages: [{ role: 'user', content: 'trace me' }] }),
    });
    expect(res.status).toBe(200);
    await res.text();
  };
  const traced = async (traceId: string, waitMs: number) => {
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && !receiver.spans.some((s) => s.traceId === traceId && s.name === 'chat')) await new Promise((r) => setTimeout(r, 100));
    return receiver.spans.some((s) => s.traceId === traceId && s.name === 'chat');
  };

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    receiver = await startReceiver();
    h = await startRouter(config(''));
  });
  afterAll(async () => {
    await h?.close();
    await upstream?.close();
    await receiver?.close();
  });

  it('off at start (nothing exported), on after a reload that sets an endpoint, off again after one that removes it', async () => {
    await send('11111111111111111111111111111111');
    expect(h.reload(config(`tracing: { otlpEndpoint: "${receiver.url}" }`))).toBe(true);
    // The SDK is imported by the reload (in this process it may be loaded already): the first
    // requests after the reload may go untraced until it is, never later ones.
    let on = '';
    for (let i = 0; i < 50 && !on; i++) {
      const id = `2222222222222222222222222222${String(i).padStart(4, '0')}`;
      await send(id);
      if (await traced(id, 1_500)) on = id;
    }
    expect(on).not.toBe('');
    expect(h.reload(config(''))).toBe(true);
    await send('33333333333333333333333333333333');
    expect(await traced('33333333333333333333333333333333', 2_000)).toBe(false);
    expect(receiver.spans.some((s) => s.traceId === '11111111111111111111111111111111')).toBe(false);
  });
});
