/**
 * Entry point of a model worker process (forked by worker-process.ts). It owns node-llama-cpp so
 * that a native abort (GGML_ASSERT on a bad model, out-of-memory) kills only this process and
 * the router fails over instead of dying. Speaks the protocol in protocol.ts over IPC.
 */
import { EngineError, WorkerEngine } from './worker-engine.js';
import { isParentMessage, type GenerateParams, type ParentMessage, type WorkerEmbedItem, type WorkerMessage, type WorkerTurn } from './protocol.js';
import { float32ToBase64 } from '../../src/wire/embeddings/vector-encoding.js';

const channel = process.send?.bind(process);
if (!channel) {
  process.stderr.write('llama-cpp worker must be started with child_process.fork\n');
  process.exit(2);
}

function send(message: WorkerMessage): void {
  // A closed channel means the parent is gone; the disconnect handler exits.
  if (process.connected) channel?.(message);
}

let engine: Promise<WorkerEngine> | undefined;
const controllers = new Map<number, AbortController>();

// Tokens arrive one by one from native callbacks, each followed by an idle event loop while
// the next one is computed, so "same turn" coalescing batches nothing. Instead a request's first
// text goes out at once (time to first token is what users feel) and later text is flushed at
// most every FLUSH_MS: a few tokens per IPC message and per SSE event, instead of one, which
// leaves the CPU to generation on small machines.
const FLUSH_MS = 8;
const pendingText = new Map<number, string>();
const sentFirst = new Set<number>();
let flushTimer: NodeJS.Timeout | undefined;

function flushText(id?: number): void {
  for (const [key, text] of pendingText) {
    if (id !== undefined && key !== id) continue;
    send({ t: 'token', id: key, text });
    pendingText.delete(key);
  }
  if (id === undefined || pendingText.size === 0) {
    clearTimeout(flushTimer);
    flushTimer = undefined;
  }
}

function queueText(id: number, text: string): void {
  if (text === '') return;
  if (!sentFirst.has(id)) {
    sentFirst.add(id);
    send({ t: 'token', id, text });
    return;
  }
  pendingText.set(id, (pendingText.get(id) ?? '') + text);
  flushTimer ??= setTimeout(() => {
    flushTimer = undefined;
    flushText();
  }, FLUSH_MS);
}

async function generate(id: number, turns: WorkerTurn[], params: GenerateParams): Promise<void> {
  const controller = new AbortController();
  controllers.set(id, controller);
  try {
    if (!engine) throw new EngineError('server', 'worker received a request before init');
    const ready = await engine;
    const outcome = await ready.generate(turns, params, controller.signal, {
      onStarted: (info) => send({ t: 'started', id, ...info }),
      onText: (text) => queueText(id, text),
    });
    flushText(id);
    send({ t: 'done', id, ...outcome });
  } catch (err) {
    pendingText.delete(id);
    const kind = controller.signal.aborted ? 'aborted' : err instanceof EngineError ? err.kind : 'server';
    send({ t: 'error', id, kind, message: err instanceof Error ? err.message : String(err) });
  } finally {
    controllers.delete(id);
    sentFirst.delete(id);
  }
}

/** One embed item: its vectors or its error, by its id (abortable like a generate). */
async function embed(item: WorkerEmbedItem): Promise<void> {
  const controller = new AbortController();
  controllers.set(item.id, controller);
  try {
    if (!engine) throw new EngineError('server', 'worker received a request before init');
    const ready = await engine;
    const out = await ready.embed(item.texts, controller.signal);
    send({ t: 'embedded', id: item.id, vectors: out.vectors.map(float32ToBase64), tokens: out.tokens, size: out.size });
  } catch (err) {
    const kind = controller.signal.aborted ? 'aborted' : err instanceof EngineError ? err.kind : 'server';
    send({ t: 'error', id: item.id, kind, message: err instanceof Error ? err.message : String(err) });
  } finally {
    controllers.delete(item.id);
  }
}

function init(message: Extract<ParentMessage, { t: 'init' }>): void {
  const instance = new WorkerEngine(message.spec, {
    log: (level, text) => send({ t: 'log', level, message: text }),
    loaded: (info) => send({ t: 'loaded', ...info }),
  });
  engine = instance.init().then(() => instance);
  engine.then(
    () => {
      readyEngine = instance;
      send({ t: 'ready' });
      if (message.loadNow) {
        instance.ensureLoaded().catch((err: unknown) => send({ t: 'load_failed', message: err instanceof Error ? err.message : String(err) }));
      }
    },
    (err: unknown) => {
      // Without bindings this worker is useless: exit, and the parent reports the crash.
      send({ t: 'log', level: 'error', message: `node-llama-cpp failed to start: ${err instanceof Error ? err.message : String(err)}` });
      setImmediate(() => process.exit(3));
    },
  );
}

let readyEngine: WorkerEngine | undefined;

/** Answers at once, whatever the engine is doing: the answer proves the event loop is alive. */
function health(nonce: number): void {
  send({ t: 'health', nonce, loaded: readyEngine?.loaded ?? false, running: readyEngine?.running ?? 0, loadError: readyEngine?.loadError });
}

process.on('message', (raw: unknown) => {
  if (!isParentMessage(raw)) return;
  switch (raw.t) {
    case 'init':
      init(raw);
      break;
    case 'generate':
      void generate(raw.id, raw.turns, raw.params);
      break;
    case 'abort':
      controllers.get(raw.id)?.abort();
      break;
    case 'embed':
      // Each item waits its turn on the embedding context; all are answered from this one message.
      for (const item of raw.items) void embed(item);
      break;
    case 'health':
      health(raw.nonce);
      break;
    case 'shutdown':
      for (const controller of controllers.values()) controller.abort();
      setImmediate(() => process.exit(0));
      break;
  }
});

// The parent died or closed the channel: nobody can read our answers.
process.on('disconnect', () => process.exit(0));
process.on('uncaughtException', (err) => {
  send({ t: 'log', level: 'error', message: `worker crashed: ${err.stack ?? err.message}` });
  setImmediate(() => process.exit(1));
});

send({ t: 'hello', pid: process.pid });
