import { z } from 'zod';

import type { JobRecord } from './job-store.js';

const jobErrorSchema = z.object({ message: z.string(), type: z.string(), code: z.string().nullable(), status: z.number().int() });

/**
 * A stored job as read back (a file, or a record rebuilt from a Redis hash). Loose on extra
 * fields (a later router may add some), strict on the ones the runner relies on, so a damaged
 * record is refused instead of half-run.
 */
const jobRecordSchema = z.looseObject({
  id: z.string().regex(/^job_[0-9a-f]{32}$/),
  owner: z.string().min(1),
  team: z.string().optional(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
  request: z.unknown(),
  createdAt: z.string(),
  updatedAt: z.string(),
  attempts: z.number().int().nonnegative(),
  progress: z.object({ completionTokens: z.number().nonnegative() }),
  result: z.unknown().optional(),
  error: jobErrorSchema.optional(),
  webhookUrl: z.string().optional(),
  lease: z.object({ owner: z.string(), until: z.number() }).optional(),
  cancelRequested: z.boolean().optional(),
  runAfter: z.number().optional(),
  expiresAt: z.string().optional(),
});

export function parseJobRecord(raw: unknown): JobRecord {
  const parsed = jobRecordSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`not a job record: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  const { request, result, ...rest } = parsed.data;
  // z.unknown() keys come back even when absent; keep absent ones absent.
  return { ...rest, request, ...(result !== undefined ? { result } : {}) } as JobRecord;
}
