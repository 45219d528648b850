import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createJobWebhook, signWebhookBody, verifyWebhookSignature, webhookUrlRefusal } from '../../../src/jobs/job-webhook.js';
import type { JobRecord } from '../../../src/jobs/job-store.js';
import { completion, queuedJob, recordingLogger } from './jobs-test-support.js';

const SECRET = 'whsec-test-0123456789abcdef';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
}

let server: Server;
let origin = '';
const received: Received[] = [];
/** Answers by path: a status to reply, or 'hang' to never answer. */
const replies = new Map<string, Array<number | 'hang'>>();

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      received.push({ path: url.pathname + url.search, headers: req.headers, raw });
      const next = replies.get(url.pathname)?.shift() ?? 200;
      if (next === 'hang') return;
      if (next === 302) res.setHeader('location', 'http://example.com/elsewhere');
      res.statusCode = next;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const ended = (extra: Partial<JobRecord>): JobRecord => ({ ...queuedJob('key_a'), status: 'succeeded', attempts: 1, result: completion('hi'), ...extra });

describe('webhook allow-list', () => {
  const allow = ['https://hooks.example.com/router/', 'https://api.example.com/hook'];

  it.each([
    ['https://hooks.example.com/router/job-done', undefined],
    ['https://hooks.example.com/router/a/b?token=x', undefined],
    ['https://HOOKS.example.com:443/router/x', undefined],
    ['https://api.example.com/hook', undefined],
    ['https://api.example.com/hook/sub', undefined],
  ])('takes %s', (url, expected) => expect(webhookUrlRefusal(url, allow)).toBe(expected));

  it.each([
    ['http://hooks.example.com/router/x', /not under a prefix/], // scheme
    ['https://hooks.example.com.evil.com/router/x', /not under a prefix/], // string-prefix trick
    ['https://hooks.example.com:8443/router/x', /not under a prefix/], // port
    ['https://hooks.example.com/other', /not under a prefix/],
    ['https://hooks.example.com/router/../admin', /not under a prefix/], // dot segments resolved first
    ['https://hooks.example.com/router/%2e%2e/admin', /not under a prefix/],
    ['https://api.example.com/hooked', /not under a prefix/], // a path segment, not a string prefix
    ['https://user:pw@hooks.example.com/router/x', /credentials/],
    ['https://hooks.example.com@evil.com/router/x', /credentials/],
    ['ftp://hooks.example.com/router/x', /only http/],
    ['/router/x', /not an absolute URL/],
    [`https://hooks.example.com/router/${'a'.repeat(3_000)}`, /longer than/],
  ])('refuses %s', (url, reason) => expect(webhookUrlRefusal(url, allow)).toMatch(reason));
});

describe('job webhook delivery', () => {
  it('POSTs the ended job, signed over the raw body, with the timestamp in header and body', async () => {
    const logger = recordingLogger();
    const hook = createJobWebhook({ allow: [`${origin}/hooks/`], secret: SECRET, timeoutMs: 1_000, logger, now: () => 1_750_000_000_123 });
    const job = ended({ webhookUrl: `${origin}/hooks/one?token=sekrit` });
    expect(await hook.notify(job)).toBe(true);
    const got = received.find((r) => r.path === '/hooks/one?token=sekrit')!;
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-router-timestamp']).toBe('1750000000');
    expect(verifyWebhookSignature(SECRET, got.raw, got.headers['x-router-signature'] as string)).toBe(true);
    expect(got.headers['x-router-signature']).toBe(signWebhookBody(SECRET, got.raw));
    expect(got.headers['x-router-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature('another-secret-entirely', got.raw, got.headers['x-router-signature'] as string)).toBe(false);
    expect(verifyWebhookSignature(SECRET, got.raw.replace('"succeeded"', '"failed"'), got.headers['x-router-signature'] as string)).toBe(false);
    expect(JSON.parse(got.raw)).toEqual({ id: job.id, object: 'job', status: 'succeeded', timestamp: 1_750_000_000, result: job.result });
    expect(logger.lines).toEqual([]);
  });

  it('sends the error of a failed job', async () => {
    const hook = createJobWebhook({ allow: [`${origin}/hooks/`], secret: SECRET, timeoutMs: 1_000, logger: recordingLogger() });
    const error = { message: 'nope', type: 'invalid_request_error', code: 'invalid_value', status: 400 };
    const job = ended({ status: 'failed', result: undefined, error, webhookUrl: `${origin}/hooks/failed` });
    expect(await hook.notify(job)).toBe(true);
    const body = JSON.parse(received.find((r) => r.path === '/hooks/failed')!.raw);
    expect(body).toMatchObject({ id: job.id, status: 'failed', error: { ...error, param: null } });
    expect(body.result).toBeUndefined();
  });

  it('tries again on 5xx and timeouts, not on 4xx or a redirect; never logs the secret or the query', async () => {
    const logger = recordingLogger();
    const hook = createJobWebhook({ allow: [`${origin}/hooks/`], secret: SECRET, timeoutMs: 150, retryDelayMs: 10, logger });
    replies.set('/hooks/flaky', [500, 'hang', 204]);
    expect(await hook.notify(ended({ webhookUrl: `${origin}/hooks/flaky?token=sekrit` }))).toBe(true);
    expect(received.filter((r) => r.path.startsWith('/hooks/flaky'))).toHaveLength(3);

    replies.set('/hooks/gone', [404]);
    expect(await hook.notify(ended({ webhookUrl: `${origin}/hooks/gone` }))).toBe(false);
    expect(received.filter((r) => r.path === '/hooks/gone')).toHaveLength(1);

    replies.set('/hooks/moved', [302]);
    expect(await hook.notify(ended({ webhookUrl: `${origin}/hooks/moved` }))).toBe(false);
    expect(received.filter((r) => r.path === '/hooks/moved')).toHaveLength(1);

    replies.set('/hooks/down', [503, 503, 503, 503]);
    expect(await hook.notify(ended({ webhookUrl: `${origin}/hooks/down` }))).toBe(false);
    expect(received.filter((r) => r.path === '/hooks/down')).toHaveLength(3);

    const logs = logger.text();
    expect(logs).toContain('/hooks/flaky');
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain('sekrit');
  });

  it('does not call a URL the allow-list no longer takes', async () => {
    const logger = recordingLogger();
    const hook = createJobWebhook({ allow: ['https://hooks.example.com/'], secret: SECRET, timeoutMs: 1_000, logger });
    const before = received.length;
    expect(await hook.notify(ended({ webhookUrl: `${origin}/hooks/old` }))).toBe(false);
    expect(received.length).toBe(before);
    expect(logger.lines[0]?.msg).toMatch(/not called/);
  });
});
