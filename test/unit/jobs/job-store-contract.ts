/**
 * What every job store must do, run against the file store and the Redis store. Reaping is
 * not here: when a lease counts as gone differs by design (see each store's own tests).
 */
import { describe, expect, it } from 'vitest';

import { JobQueueFullError } from '../../../src/jobs/job-errors.js';
import type { JobStore, JobStoreEvent } from '../../../src/jobs/job-store.js';
import { queuedJob, sleep, waitFor } from './jobs-test-support.js';

export interface JobStoreContractOptions {
  name: string;
  /** A fresh, empty store (closed by the contract). */
  open: () => Promise<JobStore>;
}

const LEASE = 60_000;

export function describeJobStoreContract(opts: JobStoreContractOptions): void {
  describe(`job store contract: ${opts.name}`, () => {
    it('creates, reads back and claims once, oldest first, with a lease and the attempt counted', async () => {
      const store = await opts.open();
      try {
        const first = queuedJob('key_a', { team: 'red', webhookUrl: 'https://hooks.example.com/x' });
        const second = queuedJob('key_b');
        await store.create(first, 10);
        await sleep(3); // order is by submit time, to the millisecond
        await store.create(second, 10);
        expect(await store.get(first.id)).toEqual(first);
        expect(await store.queued()).toBe(2);

        const a = await store.claim('inst-1', LEASE);
        expect(a).toMatchObject({ id: first.id, status: 'running', attempts: 1, lease: { owner: 'inst-1' }, team: 'red', request: first.request });
        expect(a!.lease!.until).toBeGreaterThan(Date.now() + LEASE / 2);
        const b = await store.claim('inst-2', LEASE);
        expect(b?.id).toBe(second.id);
        expect(await store.claim('inst-1', LEASE)).toBeUndefined();
        expect(await store.queued()).toBe(0);
      } finally {
        await store.close();
      }
    });

    it('refuses a submit past maxQueued, and counts only waiting jobs', async () => {
      const store = await opts.open();
      try {
        await store.create(queuedJob(), 2);
        await store.create(queuedJob(), 2);
        await expect(store.create(queuedJob(), 2)).rejects.toBeInstanceOf(JobQueueFullError);
        await store.claim('inst', LEASE);
        await store.create(queuedJob(), 2); // a running job no longer waits
        await expect(store.create(queuedJob(), 2)).rejects.toBeInstanceOf(JobQueueFullError);
      } finally {
        await store.close();
      }
    });

    it('lets only the lease holder renew, record progress and finish; the result is kept with an expiry', async () => {
      const store = await opts.open();
      try {
        const job = queuedJob();
        await store.create(job, 10);
        await store.claim('inst-1', LEASE);
        expect(await store.renew(job.id, 'inst-2', LEASE, 5)).toEqual({ held: false, cancelRequested: false });
        expect(await store.finish(job.id, 'inst-2', { status: 'succeeded', result: { x: 1 } }, 5)).toBeUndefined();
        expect(await store.renew(job.id, 'inst-1', LEASE, 7)).toEqual({ held: true, cancelRequested: false });
        await store.progress(job.id, 'inst-1', 9);
        expect((await store.get(job.id))?.progress.completionTokens).toBe(9);

        const done = await store.finish(job.id, 'inst-1', { status: 'succeeded', result: { answer: 42 } }, 11);
        expect(done).toMatchObject({ status: 'succeeded', result: { answer: 42 }, progress: { completionTokens: 11 }, attempts: 1 });
        expect(done?.lease).toBeUndefined();
        expect(Date.parse(done!.expiresAt!)).toBeGreaterThan(Date.now());
        expect(await store.get(job.id)).toEqual(done);
        expect(await store.renew(job.id, 'inst-1', LEASE, 0)).toMatchObject({ held: false });
      } finally {
        await store.close();
      }
    });

    it('stores a failure with its error', async () => {
      const store = await opts.open();
      try {
        const job = queuedJob();
        await store.create(job, 10);
        await store.claim('inst-1', LEASE);
        const error = { message: 'bad', type: 'invalid_request_error', code: 'invalid_value', status: 400 };
        expect(await store.finish(job.id, 'inst-1', { status: 'failed', error }, 0)).toMatchObject({ status: 'failed', error });
      } finally {
        await store.close();
      }
    });

    it('releases: a retry waits out its delay and keeps the attempt; a shutdown gives the attempt back', async () => {
      const store = await opts.open();
      try {
        const job = queuedJob();
        await store.create(job, 10);
        await store.claim('inst-1', LEASE);
        expect(await store.release(job.id, 'inst-2', { delayMs: 0, uncount: true })).toBeUndefined();
        const retried = await store.release(job.id, 'inst-1', { delayMs: 60_000, uncount: false });
        expect(retried).toMatchObject({ status: 'queued', attempts: 1 });
        expect(retried?.lease).toBeUndefined();
        expect(await store.claim('inst-1', LEASE)).toBeUndefined(); // still in its backoff
        expect(await store.queued()).toBe(1);

        const other = queuedJob();
        await store.create(other, 10);
        await store.claim('inst-1', LEASE);
        await store.renew(other.id, 'inst-1', LEASE, 6);
        expect(await store.release(other.id, 'inst-1', { delayMs: 0, uncount: true })).toMatchObject({ status: 'queued', attempts: 0 });
        // A new run: its progress starts over.
        expect(await store.claim('inst-3', LEASE)).toMatchObject({ id: other.id, attempts: 1, progress: { completionTokens: 0 } });
        expect((await store.get(other.id))?.progress.completionTokens).toBe(0);
      } finally {
        await store.close();
      }
    });

    it('cancels: a queued job at once, a running one marked and announced; a finished one stays; only for its owner', async () => {
      const store = await opts.open();
      const events: JobStoreEvent[] = [];
      store.onEvent((e) => events.push(e));
      try {
        const queued = queuedJob('key_a');
        await store.create(queued, 10);
        expect(await store.cancel(queued.id, 'key_b')).toBeUndefined();
        const c1 = await store.cancel(queued.id, 'key_a');
        expect(c1).toMatchObject({ settled: true, record: { status: 'cancelled', cancelRequested: true } });
        expect(c1?.record.expiresAt).toBeDefined();
        expect(await store.claim('inst', LEASE)).toBeUndefined();

        const running = queuedJob('key_a');
        await store.create(running, 10);
        await store.claim('inst', LEASE);
        const c2 = await store.cancel(running.id, 'key_a');
        expect(c2).toMatchObject({ settled: false, record: { status: 'cancelled', cancelRequested: true, lease: { owner: 'inst' } } });
        await waitFor(() => events.some((e) => e.type === 'cancel' && e.id === running.id), 2_000, 'cancel event');
        expect(await store.renew(running.id, 'inst', LEASE, 0)).toEqual({ held: true, cancelRequested: true });
        // The run's own outcome does not undo the cancel.
        const end = await store.finish(running.id, 'inst', { status: 'succeeded', result: { late: true } }, 4);
        expect(end).toMatchObject({ status: 'cancelled' });
        expect(end?.result).toBeUndefined();

        const finished = queuedJob('key_a');
        await store.create(finished, 10);
        await store.claim('inst', LEASE);
        await store.finish(finished.id, 'inst', { status: 'succeeded', result: 1 }, 0);
        expect(await store.cancel(finished.id, 'key_a')).toMatchObject({ settled: false, record: { status: 'succeeded' } });

        expect(await store.cancel('job_nope', 'key_a')).toBeUndefined();
        expect(await store.get('../../etc/passwd')).toBeUndefined();
      } finally {
        await store.close();
      }
    });

    it('a release of a job cancelled while it ran settles it as cancelled', async () => {
      const store = await opts.open();
      try {
        const job = queuedJob();
        await store.create(job, 10);
        await store.claim('inst', LEASE);
        await store.cancel(job.id, job.owner);
        const back = await store.release(job.id, 'inst', { delayMs: 0, uncount: true });
        expect(back).toMatchObject({ status: 'cancelled' });
        expect(back?.expiresAt).toBeDefined();
        expect(await store.claim('inst', LEASE)).toBeUndefined();
      } finally {
        await store.close();
      }
    });

    it('announces claimable work', async () => {
      const store = await opts.open();
      const events: JobStoreEvent[] = [];
      store.onEvent((e) => events.push(e));
      try {
        await store.create(queuedJob(), 10);
        await waitFor(() => events.some((e) => e.type === 'queued'), 2_000, 'queued event');
      } finally {
        await store.close();
      }
    });
  });
}
