import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { FileJobStore } from '../../../src/jobs/file-job-store.js';
import { JobStoreLockedError } from '../../../src/jobs/job-errors.js';
import type { JobRecord } from '../../../src/jobs/job-store.js';
import { describeJobStoreContract } from './job-store-contract.js';
import { queuedJob, recordingLogger } from './jobs-test-support.js';

const root = await mkdtemp(path.join(tmpdir(), 'llm-router-jobs-file-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => path.join(root, `t${n++}`, 'jobs');
const TTL = 60_000;

const open = (dir: string, extra: Partial<Parameters<typeof FileJobStore.open>[0]> = {}) => FileJobStore.open({ dir, resultTtlMs: TTL, ...extra });

describeJobStoreContract({ name: 'file', open: () => open(freshDir()) });

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('FileJobStore', () => {
  it('keeps every job across a restart, one JSON file each, no temp files', async () => {
    const dir = freshDir();
    const store = await open(dir);
    const at = (s: number) => ({ createdAt: `2026-03-01T00:00:0${s}.000Z`, updatedAt: `2026-03-01T00:00:0${s}.000Z` });
    const jobs = [queuedJob('key_a', at(1)), queuedJob('key_b', at(2)), queuedJob('key_a', at(3))];
    for (const job of jobs) await store.create(job, 10);
    await store.claim('inst', 60_000);
    await store.close();

    const files = (await readdir(dir)).sort();
    expect(files).toEqual(jobs.map((j) => `${j.id}.json`).sort()); // the lock went with close()
    const onDisk = JSON.parse(await readFile(path.join(dir, `${jobs[0]!.id}.json`), 'utf8')) as JobRecord;
    expect(onDisk).toMatchObject({ id: jobs[0]!.id, status: 'running', attempts: 1, lease: { owner: 'inst' } });

    const again = await open(dir);
    try {
      expect(await again.get(jobs[1]!.id)).toEqual(jobs[1]);
      expect(await again.queued()).toBe(2);
      expect((await again.claim('inst-2', 60_000))?.id).toBe(jobs[1]!.id); // oldest waiting first
    } finally {
      await again.close();
    }
  });

  it('on start, a job left running by a stopped process is queued again, or failed with the reason once out of attempts', async () => {
    const dir = freshDir();
    const first = await open(dir);
    const a = queuedJob('key_a', { createdAt: '2026-03-01T00:00:01.000Z' });
    const b = queuedJob('key_a', { createdAt: '2026-03-01T00:00:02.000Z' });
    await first.create(a, 10);
    await first.create(b, 10);
    await first.claim('dead-instance', 60_000); // a: attempt 1
    await first.claim('dead-instance', 60_000); // b: attempt 1
    await first.close(); // the files now look as a crash leaves them: running, leased to a process that is gone

    const logger = recordingLogger();
    const second = await open(dir, { logger });
    try {
      // Live leases are never reaped: the lock proves the previous owner is gone, not this one.
      expect(await second.reap(2)).toEqual([]);
      expect((await second.get(a.id))?.status).toBe('queued');
      expect((await second.get(a.id))?.lease).toBeUndefined();
      expect(logger.lines.some((l) => l.msg?.includes('interrupted'))).toBe(true);
      // Run again: a claimed by a live instance here, then "crashes" again (the store is reopened).
      expect((await second.claim('inst-2', 60_000))?.attempts).toBe(2);
      expect(await second.reap(2)).toEqual([]); // inst-2 is alive
    } finally {
      await second.close();
    }

    const third = await open(dir);
    try {
      const settled = await third.reap(2);
      expect(settled.map((r) => r.id)).toContain(a.id);
      const failed = await third.get(a.id);
      expect(failed).toMatchObject({ status: 'failed', attempts: 2, error: { message: 'interrupted: the router stopped while it ran (2 attempts)', code: 'job_interrupted', status: 500 } });
      expect(failed?.expiresAt).toBeDefined();
      expect((await third.get(b.id))?.status).toBe('queued');
    } finally {
      await third.close();
    }
  });

  it('a job cancelled while its process died is settled as cancelled on start', async () => {
    const dir = freshDir();
    const first = await open(dir);
    const job = queuedJob();
    await first.create(job, 10);
    await first.claim('dead-instance', 60_000);
    await first.cancel(job.id, job.owner);
    await first.close();
    const second = await open(dir);
    try {
      expect((await second.reap(5)).map((r) => [r.id, r.status])).toEqual([[job.id, 'cancelled']]);
      expect(await second.claim('x', 1_000)).toBeUndefined();
    } finally {
      await second.close();
    }
  });

  it('deletes finished jobs past their TTL, and only those', async () => {
    let clock = Date.parse('2026-03-01T00:00:00Z');
    const dir = freshDir();
    const store = await open(dir, { now: () => clock });
    try {
      const done = queuedJob();
      const waiting = queuedJob();
      await store.create(done, 10);
      await store.create(waiting, 10);
      await store.claim('inst', 60_000);
      const finished = await store.finish(done.id, 'inst', { status: 'succeeded', result: 1 }, 0);
      expect(finished?.expiresAt).toBe('2026-03-01T00:01:00.000Z');
      clock += TTL - 1;
      expect(await store.sweep()).toBe(0);
      clock += 2;
      expect(await store.sweep()).toBe(1);
      expect(await store.get(done.id)).toBeUndefined();
      expect(await store.get(waiting.id)).toBeDefined();
      expect((await readdir(dir)).filter((f) => f.endsWith('.json'))).toEqual([`${waiting.id}.json`]);
    } finally {
      await store.close();
    }
  });

  it('sets an unreadable job file aside (never deleted) and clears leftovers of interrupted writes', async () => {
    const dir = freshDir();
    const store = await open(dir);
    const good = queuedJob();
    await store.create(good, 10);
    await store.close();
    const bad = queuedJob();
    await writeFile(path.join(dir, `${bad.id}.json`), '{"id": "job_');
    await writeFile(path.join(dir, `.${good.id}.json.123.abcd.tmp`), 'half');
    const logger = recordingLogger();
    const again = await open(dir, { logger });
    try {
      expect(await again.get(good.id)).toEqual(good);
      expect(await again.get(bad.id)).toBeUndefined();
      const files = await readdir(dir);
      expect(files).toContain(`${bad.id}.json.corrupt`);
      expect(files.some((f) => f.endsWith('.tmp'))).toBe(false);
      expect(logger.lines.some((l) => l.level === 'error')).toBe(true);
    } finally {
      await again.close();
    }
  });

  describe('folder lock (single instance)', () => {
    it('refuses a second store over a folder in use, in this process', async () => {
      const dir = freshDir();
      const store = await open(dir);
      try {
        await expect(open(dir)).rejects.toBeInstanceOf(JobStoreLockedError);
      } finally {
        await store.close();
      }
      await (await open(dir)).close(); // free again once closed
    });

    it('takes over the lock of a process that died', async () => {
      const dir = freshDir();
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, '.lock'), JSON.stringify({ pid: deadPid(), hostname: os.hostname(), instance: 'x', at: Date.now() }));
      const store = await open(dir);
      const lock = JSON.parse(await readFile(path.join(dir, '.lock'), 'utf8')) as { pid: number };
      expect(lock.pid).toBe(process.pid);
      await store.close();
    });

    it('refuses the live lock of a process on this host', async () => {
      const dir = freshDir();
      await mkdir(dir, { recursive: true });
      // The test runner's parent is alive for sure.
      await writeFile(path.join(dir, '.lock'), JSON.stringify({ pid: process.ppid, hostname: os.hostname(), instance: 'x', at: Date.now() }));
      await expect(open(dir)).rejects.toThrow(/in use by another router process \(pid \d+/);
    });

    it('waits for another host\'s lock to go stale: refused while it is refreshed, taken once it is old', async () => {
      const dir = freshDir();
      await mkdir(dir, { recursive: true });
      const lock = path.join(dir, '.lock');
      await writeFile(lock, JSON.stringify({ pid: 1, hostname: 'elsewhere', instance: 'x', at: Date.now() }));
      await expect(open(dir, { leaseMs: 300, lockWaitMs: 100 })).rejects.toBeInstanceOf(JobStoreLockedError);
      await writeFile(lock, JSON.stringify({ pid: 1, hostname: 'elsewhere', instance: 'x', at: Date.now() - 10_000 }));
      await (await open(dir, { leaseMs: 300 })).close();
    });
  });
});
