import type { JobRecord, JobStatus } from './job-store.js';

/** What GET /v1/jobs/{id} answers (OpenAI-style: snake_case, unix seconds). */
export interface JobView {
  id: string;
  object: 'job';
  status: JobStatus;
  created_at: number;
  updated_at: number;
  attempts: number;
  progress: { completion_tokens: number };
  /** The chat.completion, once succeeded. */
  result?: unknown;
  error?: { message: string; type: string; param: null; code: string | null; status: number };
  /** When a finished job is deleted (then GET answers 404). */
  expires_at?: number;
}

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** The 202 answer of a submit. */
export function jobCreatedView(job: JobRecord): Pick<JobView, 'id' | 'object' | 'status' | 'created_at'> {
  return { id: job.id, object: 'job', status: job.status, created_at: seconds(job.createdAt) };
}

/** A job as its owner sees it: never the request, the lease or the webhook URL. */
export function jobView(job: JobRecord): JobView {
  return {
    id: job.id,
    object: 'job',
    status: job.status,
    created_at: seconds(job.createdAt),
    updated_at: seconds(job.updatedAt),
    attempts: job.attempts,
    progress: { completion_tokens: job.progress.completionTokens },
    ...(job.status === 'succeeded' && job.result !== undefined ? { result: job.result } : {}),
    ...(job.status === 'failed' && job.error ? { error: { message: job.error.message, type: job.error.type, param: null, code: job.error.code, status: job.error.status } } : {}),
    ...(job.expiresAt !== undefined && job.status !== 'queued' && job.status !== 'running' ? { expires_at: seconds(job.expiresAt) } : {}),
  };
}
