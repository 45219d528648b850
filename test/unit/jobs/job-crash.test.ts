/**
 * Crashes for real: a child router process runs a job and is killed with SIGKILL mid-run (no
 * close, no release, its lock file left behind). A new runner over the same folder must run
 * the job again, or fail it with the reason once out of attempts, never lose it; and while the
 * child lives, a second store over its folder is refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { FileJobStore } from '../../../src/jobs/file-job-store.js';
import { JobStoreLockedError } from '../../../src/jobs/job-errors.js';
import { createJobRunner } from '../../../src/jobs/job-runner.js';
import type { JobRecord } from '../../../src/jobs/job-store.js';
import { completion, recordingLogger, waitFor } from './jobs-test-support.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'fixtures', 'crash-child.ts');
const root = await mkdtemp(path.join(tmpdir(), 'llm-router-jobs-crash-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let n = 0;

/** Starts a child router over `dir`; resolves with it once its job runs (`RUNNING <id> <attempts>`). */
async function childRunning(dir: string, mode: 'submit' | 'resume'): Promise<{ proc: ChildProcess; id: string; attempts: number }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not start a run: ${out} ${err}`)), 20_000);
    proc.on('exit', (code) => reject(new Error(`child exited (${code}): ${err}`)));
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /RUNNING (job_[0-9a-f]+) (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, id: m[1]!, attempts: Number(m[2]) });
      }
    });
  });
}

async function kill(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
}

/** A runner in this process taking over the folder; resolves with the job once it ended. */
async function takeOver(dir: string, id: string, maxAttempts: number): Promise<{ job: JobRecord; runs: number }> {
  const store = await FileJobStore.open({ dir, resultTtlMs: 60_000, leaseMs: 3_000 });
  let runs = 0;
  const runner = createJobRunner({
    store, concurrency: 2, maxQueued: 10, leaseMs: 3_000, maxAttempts, logger: recordingLogger(), instanceId: 'parent', pollMs: 20,
    execute: async () => {
      runs++;
      return { status: 200, body: completion('after the crash') };
    },
  });
  try {
    await runner.start();
    let job: JobRecord | undefined;
    await waitFor(async () => {
      job = await runner.get(id, 'key_a');
      return job?.status === 'succeeded' || job?.status === 'failed';
    }, 5_000, 'the job to end');
    return { job: job!, runs };
  } finally {
    await runner.close();
    await store.close();
  }
}

describe('jobs survive a crash (file store, SIGKILL)', () => {
  it('a job running when the process died is run again and succeeds; a live process keeps the folder to itself', async () => {
    const dir = path.join(root, `t${n++}`);
    const { proc, id, attempts } = await childRunning(dir, 'submit');
    expect(attempts).toBe(1);
    await expect(FileJobStore.open({ dir, resultTtlMs: 1_000 })).rejects.toBeInstanceOf(JobStoreLockedError);
    await kill(proc);

    const { job, runs } = await takeOver(dir, id, 2);
    expect(runs).toBe(1);
    expect(job).toMatchObject({ status: 'succeeded', attempts: 2, result: { choices: [{ message: { content: 'after the crash' } }] } });
  });

  it('a job whose every attempt died with its process is failed with the reason, not run again', async () => {
    const dir = path.join(root, `t${n++}`);
    const first = await childRunning(dir, 'submit');
    await kill(first.proc);
    const second = await childRunning(dir, 'resume'); // the restart runs it again (attempt 2)...
    expect(second).toMatchObject({ id: first.id, attempts: 2 });
    await kill(second.proc); // ...and dies again

    const { job, runs } = await takeOver(dir, first.id, 2);
    expect(runs).toBe(0);
    expect(job).toMatchObject({ status: 'failed', attempts: 2, error: { message: 'interrupted: the router stopped while it ran (2 attempts)', code: 'job_interrupted' } });
  });
});
