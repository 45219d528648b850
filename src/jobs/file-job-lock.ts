import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { writeFileAtomic } from '../state/memory/atomic-file.js';
import type { StateLogger } from '../state/state-logger.js';
import { JobStoreLockedError } from './job-errors.js';

/** What `<dir>/.lock` says about its holder. */
interface LockContent {
  pid: number;
  hostname: string;
  instance: string;
  /** Last refresh, epoch ms. */
  at: number;
}

/** Lock files this process holds: a second store over the same folder in this process is refused too. */
const heldHere = new Set<string>();

export interface FileJobLockOptions {
  /** The lock is rewritten this often (its `at`). */
  refreshMs: number;
  /** A lock not refreshed for this long is stale whoever holds it (another host, a reused pid). */
  staleMs: number;
  /** How long `acquire` waits for a foreign lock (another host) to go stale before refusing. */
  waitMs: number;
  now: () => number;
  logger: StateLogger;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, another user's
  }
}

async function readLock(file: string): Promise<LockContent | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<LockContent>;
    if (typeof parsed.pid === 'number' && typeof parsed.hostname === 'string' && typeof parsed.at === 'number') return parsed as LockContent;
  } catch {
    // unreadable: judged by its age below
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `<dataDir>/jobs/.lock`: the file job store is single-instance, and this keeps a second router
 * process (or a second store in this one) off a folder in use, so no job runs twice at once.
 * The lock names its holder (pid, host) and is refreshed every `refreshMs`. A lock is taken
 * over when its holder is provably gone: same host and the pid is dead (or is this process's
 * pid but not held here: a container restart reuses pid 1), or it was not refreshed for
 * `staleMs` (another host, whose pids mean nothing here).
 *
 * A guard against misconfiguration, not a distributed lock: two processes taking over the same
 * stale lock in the same millisecond could both win; each refresh checks the lock is still ours
 * and logs an error if not.
 */
export class FileJobLock {
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  private constructor(
    readonly file: string,
    private readonly content: LockContent,
    private readonly options: FileJobLockOptions,
  ) {}

  static async acquire(dir: string, options: FileJobLockOptions): Promise<FileJobLock> {
    await mkdir(dir, { recursive: true });
    const file = path.resolve(dir, '.lock');
    const content: LockContent = { pid: process.pid, hostname: os.hostname(), instance: randomBytes(8).toString('hex'), at: options.now() };
    const deadline = options.now() + options.waitMs;
    for (;;) {
      if (!heldHere.has(file) && (await createExclusive(file, content))) {
        heldHere.add(file);
        const lock = new FileJobLock(file, content, options);
        lock.startRefresh();
        return lock;
      }
      const holder = heldHere.has(file) ? { pid: process.pid, hostname: os.hostname(), instance: 'this process', at: options.now() } : await readLock(file);
      const verdict = await judge(file, holder, options);
      if (verdict === 'stale') {
        options.logger.warn({ lock: file, holder: holder ? `pid ${holder.pid} on ${holder.hostname}` : 'unreadable' }, 'jobs folder lock left by a stopped router; taking it over');
        await rm(file, { force: true });
        continue;
      }
      const who = holder ? `pid ${holder.pid} on ${holder.hostname}` : 'unknown holder';
      if (verdict === 'held' || options.now() >= deadline) throw new JobStoreLockedError(file, who);
      // Another host's lock: stale only once its holder stops refreshing it.
      await sleep(Math.min(options.refreshMs, Math.max(10, deadline - options.now())));
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    heldHere.delete(this.file);
    const current = await readLock(this.file);
    if (current?.instance === this.content.instance) await rm(this.file, { force: true });
  }

  private startRefresh(): void {
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs);
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    try {
      const current = await readLock(this.file);
      if (current && current.instance !== this.content.instance) {
        this.options.logger.error({ lock: this.file, holder: `pid ${current.pid} on ${current.hostname}` }, 'jobs folder lock was taken by another router process; jobs may run twice');
        return;
      }
      this.content.at = this.options.now();
      await writeFileAtomic(this.file, JSON.stringify(this.content));
    } catch (err) {
      this.options.logger.warn({ lock: this.file, err: (err as Error).message }, 'jobs folder lock: refresh failed');
    }
  }
}

/**
 * 'stale': the holder is gone; 'held': it is alive (same host); 'foreign': another host's lock,
 * still fresh (may go stale if we wait).
 */
async function judge(file: string, holder: LockContent | undefined, options: FileJobLockOptions): Promise<'stale' | 'held' | 'foreign'> {
  if (heldHere.has(file)) return 'held';
  if (!holder) {
    // Unreadable: stale once old (a crash while it was written); young, maybe mid-creation.
    const mtime = await stat(file).then((s) => s.mtimeMs, () => 0);
    return options.now() - mtime > options.staleMs ? 'stale' : 'foreign';
  }
  if (options.now() - holder.at > options.staleMs) return 'stale';
  if (holder.hostname !== os.hostname()) return 'foreign';
  if (holder.pid === process.pid) return 'stale'; // our pid, not held here: an earlier life of this pid
  return alive(holder.pid) ? 'held' : 'stale';
}

/** Creates `file` with `content` only if absent, whole or not at all: a temp file hard-linked into place. */
async function createExclusive(file: string, content: LockContent): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(content), 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}
