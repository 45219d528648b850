import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { sessionsSchema } from '../../../src/sessions/session-schema.js';

describe('sessionsSchema', () => {
  it('has working defaults', () => {
    expect(sessionsSchema.parse({})).toEqual({
      enabled: true,
      idleTtlMs: 86_400_000,
      maxSessionBytes: 1_048_576,
      maxMessages: 1_000,
      maxSessions: 10_000,
      maxTotalBytes: 268_435_456,
      maxSessionsPerOwner: 1_000,
    });
  });

  it('refuses typos and nonsense loudly', () => {
    expect(sessionsSchema.safeParse({ idleTTLMs: 5 }).success).toBe(false);
    expect(sessionsSchema.safeParse({ maxMessages: 0 }).success).toBe(false);
    expect(sessionsSchema.safeParse({ maxSessionBytes: 1.5 }).success).toBe(false);
  });

  it('describes every field for the JSON schema operators see', () => {
    const json = z.toJSONSchema(sessionsSchema, { io: 'input' }) as { properties: Record<string, { description?: string }> };
    for (const [name, prop] of Object.entries(json.properties)) expect(prop.description, name).toBeTruthy();
  });
});
