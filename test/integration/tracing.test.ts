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
