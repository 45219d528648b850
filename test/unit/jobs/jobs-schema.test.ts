import { describe, expect, it } from 'vitest';

import { judgeExecution } from '../../../src/jobs/job-outcome.js';
import { jobsSchema } from '../../../src/jobs/jobs-schema.js';

describe('jobs config', () => {
  it('has working defaults', () => {
    expect(jobsSchema.parse({})).toEqual({ enabled: true, concurrency: 2, maxQueued: 1_000, maxRequestBytes: 1_048_576, resultTtlMs: 86_400_000, maxAttempts: 2, leaseMs: 30_000, retryDelayMs: 1_000, maxRetryDelayMs: 60_000 });
    expect(jobsSchema.parse({ webhook: { allow: ['https://hooks.example.com/'], secret: 'x'.repeat(16) } }).webhook).toEqual({ allow: ['https://hooks.example.com/'], secret: 'x'.repeat(16), timeoutMs: 5_000 });
  });

  it.each([
    [{ concurrency: 0 }, 'concurrency'],
    [{ maxAtempts: 3 }, ''], // a typo fails loudly
    [{ leaseMs: 10 }, 'leaseMs'],
    [{ webhook: { allow: ['https://u:p@hooks.example.com/'], secret: 'x'.repeat(16) } }, 'webhook.allow.0'],
    [{ webhook: { allow: ['hooks.example.com'], secret: 'x'.repeat(16) } }, 'webhook.allow.0'],
    [{ webhook: { allow: ['https://hooks.example.com/'], secret: 'short' } }, 'webhook.secret'],
    [{ webhook: { allow: [], secret: 'x'.repeat(16) } }, 'webhook.allow'],
  ])('refuses %j', (input, where) => {
    const parsed = jobsSchema.safeParse(input);
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.path.join('.')).toBe(where);
  });

  it('describes every field for the JSON schema operators see', () => {
    const json = JSON.stringify(jobsSchema.toJSONSchema());
    for (const field of ['concurrency', 'maxQueued', 'resultTtlMs', 'maxAttempts', 'leaseMs', 'webhook']) expect(json).toContain(`"${field}"`);
    const props = (jobsSchema.toJSONSchema() as { properties: Record<string, { description?: string }> }).properties;
    for (const [name, p] of Object.entries(props)) expect(p.description, name).toBeTruthy();
  });
});

describe('what a run answered', () => {
  const e = (status: number, type: string, code: string | null = null) => ({ result: { status, body: { error: { message: 'm', type, param: null, code } } } });

  it.each([
    [{ result: { status: 200, body: { object: 'chat.completion' } } }, 'succeeded'],
    [e(400, 'invalid_request_error', 'invalid_value'), 'failed'],
    [e(404, 'invalid_request_error', 'model_not_found'), 'failed'],
    [e(429, 'rate_limit_error', 'rate_limit_exceeded'), 'retry'],
    [e(429, 'insufficient_quota', 'insufficient_quota'), 'failed'],
    [e(500, 'server_error', 'internal_error'), 'retry'],
    [e(502, 'upstream_error', 'upstream_error'), 'retry'],
    [e(503, 'service_unavailable', 'no_healthy_upstream'), 'retry'],
    [{ thrown: new Error('boom') }, 'retry'],
  ] as const)('%j → %s', (outcome, kind) => expect(judgeExecution(outcome).kind).toBe(kind));

  it('keeps the wire error, and says something useful for a body without one', () => {
    expect(judgeExecution(e(400, 'invalid_request_error', 'invalid_value'))).toEqual({ kind: 'failed', error: { message: 'm', type: 'invalid_request_error', code: 'invalid_value', status: 400 } });
    expect(judgeExecution({ result: { status: 502, body: 'Bad Gateway' } })).toEqual({ kind: 'retry', error: { message: 'The request failed with HTTP 502.', type: 'server_error', code: null, status: 502 } });
    // A throw's message may hold internals: the job shows a generic one.
    expect(judgeExecution({ thrown: new Error('ECONNREFUSED 10.0.0.3') })).toMatchObject({ error: { message: 'The router failed to process the request.', code: 'internal_error' } });
  });
});
