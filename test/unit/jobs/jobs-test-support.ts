import type { StateLogger } from '../../../src/state/state-logger.js';
import type { JobRecord } from '../../../src/jobs/job-store.js';
import { newJobId } from '../../../src/jobs/job-store.js';

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  obj: object;
  msg?: string;
}

/** A logger that keeps what it is told (tests assert on it, e.g. that no secret is logged). */
export function recordingLogger(): StateLogger & { lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), text: () => JSON.stringify(lines) };
}

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Polls `check` until it holds (or fails the test after `timeoutMs`). */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function chatBody(text = 'hello'): Record<string, unknown> {
  return { model: 'chat', messages: [{ role: 'user', content: text }] };
}

/** A wire chat.completion as the router would answer it. */
export function completion(text: string, completionTokens = 3): Record<string, unknown> {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'chat',
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: completionTokens, total_tokens: 5 + completionTokens },
  };
}

/** A fresh queued record, as the runner's submit builds it. */
export function queuedJob(owner = 'key_a', extra: Partial<JobRecord> = {}): JobRecord {
  const at = new Date().toISOString();
  return { id: newJobId(), owner, status: 'queued', request: chatBody(), createdAt: at, updatedAt: at, attempts: 0, progress: { completionTokens: 0 }, ...extra };
}
