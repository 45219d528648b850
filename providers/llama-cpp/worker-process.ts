/**
 * The parent's handle on one model worker process: fork, the hello/init/ready handshake,
 * typed IPC, health pings with a deadline, and the last lines of stderr (where llama.cpp
 * prints a GGML_ASSERT before aborting) for the crash report.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isWorkerMessage, type ParentMessage, type WorkerMessage, type WorkerModelSpec } from './protocol.js';

const STDERR_TAIL_BYTES = 2048;

export interface WorkerHealth {
  loaded: boolean;
  running: number;
  loadError?: string;
  latencyMs: number;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why the parent killed it, when it did. */
  killedFor?: string;
  stderrTail: string;
}

export interface WorkerProcessEvents {
  /** Any message but hello and health replies (handled here). */
  message(message: WorkerMessage): void;
  exit(exit: WorkerExit): void;
}

export interface WorkerProcessOptions {
  spec: WorkerModelSpec;
  loadNow: boolean;
  /** Override the worker script (tests); default worker.ts next to this file (worker.js once compiled). */
  workerPath?: string;
}

/**
 * The worker entry next to this file: worker.ts when running from the sources (tsx, vitest),
 * worker.js when compiled (node dist/…). A .ts worker runs through tsx's loader (a dev
 * dependency); a .js worker runs on plain node, so production needs no tsx.
 */
function workerCommand(override?: string): { path: string; execArgv: string[] } {
  const here = import.meta.url;
  const path = override ?? fileURLToPath(new URL(here.endsWith('.ts') ? './worker.ts' : './worker.js', here));
  if (!path.endsWith('.ts')) return { path, execArgv: [] };
  // An absolute loader URL: `--import tsx` would resolve against the cwd, which need not be the repo.
  const tsxLoader = pathToFileURL(createRequire(here).resolve('tsx')).href;
  return { path, execArgv: ['--import', tsxLoader] };
}

export class WorkerProcess {
  private readonly child: ChildProcess;
  private stderrTail = '';
  private killedFor?: string;
  private exited = false;
  private nonce = 0;
  private readonly pings = new Map<number, { finish: (h: WorkerHealth | undefined) => void; started: number }>();

  constructor(
    private readonly options: WorkerProcessOptions,
    private readonly events: WorkerProcessEvents,
  ) {
    const { path, execArgv } = workerCommand(options.workerPath);
    this.child = fork(path, [], { execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    const keepTail = (chunk: Buffer): void => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    };
    this.child.stderr?.on('data', keepTail);
    this.child.stdout?.on('data', keepTail);
    this.child.on('message', (raw: unknown) => this.onMessage(raw));
    this.child.on('error', (err) => {
      // fork failures (EAGAIN, missing node) surface here; exit may never follow.
      keepTail(Buffer.from(`\n${err.message}`));
      if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid === undefined) this.onExit(null, null);
    });
    this.child.on('exit', (code, signal) => this.onExit(code, signal));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  send(message: ParentMessage): boolean {
    if (this.exited || !this.child.connected) return false;
    this.child.send(message);
    return true;
  }

  /** Resolves with the worker's health, or undefined when it does not answer within `timeoutMs`. */
  ping(timeoutMs: number): Promise<WorkerHealth | undefined> {
    const nonce = ++this.nonce;
    return new Promise((resolve) => {
      const finish = (health: WorkerHealth | undefined): void => {
        clearTimeout(timer);
        this.pings.delete(nonce);
        resolve(health);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      timer.unref();
      this.pings.set(nonce, { started: performance.now(), finish });
      if (!this.send({ t: 'health', nonce })) finish(undefined);
    });
  }

  /** SIGKILL: a hung or crashing native worker cannot be trusted to shut down by itself. */
  kill(reason: string): void {
    if (this.exited) return;
    this.killedFor ??= reason;
    this.child.kill('SIGKILL');
  }

  /** Asks the worker to exit, then kills it after `graceMs`. */
  async shutdown(graceMs: number): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.killedFor ??= 'shutdown';
    this.send({ t: 'shutdown' });
    const timer = setTimeout(() => this.kill('shutdown timed out'), graceMs);
    timer.unref();
    await exited;
    clearTimeout(timer);
  }

  private onMessage(raw: unknown): void {
    if (!isWorkerMessage(raw)) return;
    if (raw.t === 'hello') {
      this.send({ t: 'init', spec: this.options.spec, loadNow: this.options.loadNow });
      return;
    }
    if (raw.t === 'health') {
      const ping = this.pings.get(raw.nonce);
      ping?.finish({ loaded: raw.loaded, running: raw.running, loadError: raw.loadError, latencyMs: Math.round(performance.now() - ping.started) });
      return;
    }
    this.events.message(raw);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    for (const ping of [...this.pings.values()]) ping.finish(undefined);
    this.events.exit({ code, signal, killedFor: this.killedFor, stderrTail: this.stderrTail.trim() });
  }
}
