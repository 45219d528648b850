/**
 * The llama-cpp provider: local GGUF models from the model registry, each served by its own
 * worker process (see model-host.ts). This file maps between the router's Provider contract and
 * the hosts: model lookup and file checks, deadlines, chunk shapes, notes.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LlamaProviderConfig } from './options.js';
import type { ChatRequest } from '../../src/core/chat-request.js';
import type { ChatChunk, ChatResponse, ChatStream, FinishReason, Usage } from '../../src/core/chat-response.js';
import type { CallNotes, CallOptions, Capabilities, EmbedInput, EmbedRequest, EmbedResponse, HealthReport, Provider, Target } from '../../src/core/provider.js';
import { ProviderError } from '../../src/core/provider-error.js';
import { startDeadline } from '../../src/core/deadline.js';
import { generateTinyModelIfMissing } from '../../models/gguf/ensure-tiny-model.js';
import { DEFAULT_REGISTRY_PATH } from '../../models/paths.js';
import { loadEncoder } from '../../src/accounting/encoders.js';
import { shapeVector } from './embed-vectors.js';
import { knownLocalEmbeddingSize } from './embedding-size.js';
import { ModelHost, type HostCall } from './model-host.js';
import { checkModelFile } from './model-file.js';
import { buildGenerateRequest } from './prompt.js';
import { loadRegistry, RegistryError, type RegistryEntry } from './registry.js';
import { DEFAULT_TUNING, type LlamaTuning } from './tuning.js';

export interface LlamaProviderContext {
  logger: Logger;
  /** Folder the config's relative registry path resolves against. */
  baseDir: string;
  /** Supervision timings (tests shorten them). */
  tuning?: Partial<LlamaTuning>;
}

export const COMPACTED_HEADER = 'x-router-compacted';

function toUsage(u: { promptTokens: number; completionTokens: number }): Usage {
  return { promptTokens: u.promptTokens, completionTokens: u.completionTokens, totalTokens: u.promptTokens + u.completionTokens };
}

/** An abort signal for one call: the caller's, plus a deadline that aborts with kind `timeout`. */
function callSignal(caller: AbortSignal, timeoutMs: number, provider: string): { signal: AbortSignal; stopDeadline(): void; dispose(): void } {
  const d = startDeadline({
    parents: [caller],
    ms: timeoutMs,
    parentReason: (reason) => new ProviderError({ kind: 'aborted', provider, message: 'request aborted by the caller', cause: reason }),
    timeoutReason: () => new ProviderError({ kind: 'timeout', provider, message: `local model did not answer within ${timeoutMs} ms` }),
  });
  return { signal: d.signal, stopDeadline: () => d.clear(), dispose: () => d.dispose() };
}

export class LlamaCppProvider implements Provider {
  readonly kind = 'llama-cpp';
  private readonly hosts = new Map<string, ModelHost>();
  private readonly registryPath: string;
  private readonly tuning: LlamaTuning;
  private closed = false;

  constructor(
    readonly id: string,
    private readonly config: LlamaProviderConfig,
    private readonly ctx: LlamaProviderContext,
  ) {
    this.registryPath = config.registry ? resolve(ctx.baseDir, config.registry) : DEFAULT_REGISTRY_PATH; // the router's models/registry.yaml, wherever the config lives
    this.tuning = { ...DEFAULT_TUNING, ...ctx.tuning };
    if (config.loadAtStart && config.model) {
      const model = config.model;
      this.hostFor(model).then(
        (host) => host.start(),
        (err: unknown) => ctx.logger.warn({ provider: id, model, err: (err as Error).message }, 'local model not loaded at start'),
      );
    }
  }

  private entry(model: string): RegistryEntry {
    let entry: RegistryEntry | undefined;
    try {
      entry = loadRegistry(this.registryPath).models.get(model);
    } catch (err) {
      // The registry is the operator's config, not the request: server, so routing falls back.
      throw new ProviderError({ kind: 'server', provider: this.id, message: (err as RegistryError).message, cause: err });
    }
    if (!entry) throw new ProviderError({ kind: 'not_found', provider: this.id, message: `model "${model}" is not in the local model registry ${this.registryPath}` });
    return entry;
  }

  /**
   * A `builtin` entry's file is the generated tiny model (never committed): make it when it is
   * missing, once however many calls wait for it (models/gguf/ensure-tiny-model.ts).
   */
  private async ensureBuiltin(entry: RegistryEntry): Promise<void> {
    if (!entry.builtin) return;
    let generated: boolean;
    try {
      generated = await generateTinyModelIfMissing(entry.path);
    } catch (err) {
      throw new ProviderError({ kind: 'server', provider: this.id, message: `could not generate the built-in model ${entry.path}: ${(err as Error).message}`, cause: err });
    }
    if (generated) this.ctx.logger.info({ model: entry.id, path: entry.path }, 'generated the built-in model');
  }

  /** The host of a model, after checking its file (cheap when unchanged: cached by mtime and size). */
  private async hostFor(model: string): Promise<ModelHost> {
    if (this.closed) throw new ProviderError({ kind: 'server', provider: this.id, message: 'provider is closed' });
    const entry = this.entry(model);
    await this.ensureBuiltin(entry);
    const check = await checkModelFile(entry.path, entry.sha256);
    // A broken file is the provider's fault, and another target may well serve the request.
    if (!check.ok) throw new ProviderError({ kind: 'server', provider: this.id, message: check.message, code: 'model_file_invalid' });
    let host = this.hosts.get(model);
    if (!host) {
      host = new ModelHost({
        providerId: this.id,
        spec: {
          id: entry.id,
          path: entry.path,
          contextSize: entry.contextSize,
          threads: this.config.threads ?? entry.threads,
          parallel: this.config.parallel ?? entry.parallel,
          chatTemplate: entry.chatTemplate,
        },
        queueLimit: this.config.queueLimit,
        loadAtStart: this.config.loadAtStart && model === this.config.model,
        logger: this.ctx.logger.child({ provider: this.id, model }),
        tuning: this.tuning,
      });
      this.hosts.set(model, host);
    }
    return host;
  }

  private modelOf(target: Target): string {
    const model = target.model || this.config.model;
    if (!model) throw new ProviderError({ kind: 'invalid_request', provider: this.id, message: 'no local model named by the target or the provider config' });
    return model;
  }

  capabilities(model: string): Capabilities {
    let entry: RegistryEntry | undefined;
    try {
      entry = loadRegistry(this.registryPath).models.get(model || this.config.model || '');
    } catch {
      entry = undefined;
    }
    return { tools: entry?.tools ?? false, jsonObject: true, jsonSchema: true, contextLength: entry?.contextSize, maxChoices: 1, vision: false, compactsHistory: true };
  }

  private async open(req: ChatRequest, target: Target, signal: AbortSignal): Promise<{ model: string; call: HostCall; notes?: CallNotes }> {
    const model = this.modelOf(target);
    const host = await this.hostFor(model);
    const { turns, params } = buildGenerateRequest(this.id, req, this.config, this.entry(model));
    const call = await host.generate(turns, params, signal);
    const notes = call.dropped > 0 ? { headers: { [COMPACTED_HEADER]: `${call.dropped} messages` } } : undefined;
    return { model, call, notes };
  }

  async stream(req: ChatRequest, target: Target, opts: CallOptions): Promise<ChatStream & { notes?: CallNotes }> {
    const deadline = callSignal(opts.signal, this.config.timeoutMs, this.id);
    let opened: Awaited<ReturnType<LlamaCppProvider['open']>>;
    try {
      opened = await this.open(req, target, deadline.signal);
    } catch (err) {
      deadline.dispose();
      throw err;
    }
    // For streams the timeout covers the wait for acceptance; the route's idle timeout takes over.
    deadline.stopDeadline();
    const { model, call, notes } = opened;
    async function* chunks(): AsyncGenerator<ChatChunk> {
      try {
        for await (const event of call.events) {
          if (event.type === 'text') {
            yield { type: 'delta', index: 0, text: event.text };
            continue;
          }
          if (event.toolCalls?.length) {
            const toolCalls = event.toolCalls.map((c, index) => ({ index, id: `call_${randomBytes(12).toString('hex')}`, type: 'function' as const, function: { name: c.name, arguments: c.arguments } }));
            yield { type: 'delta', index: 0, toolCalls };
          }
          yield { type: 'finish', index: 0, finish: event.finish };
          yield { type: 'usage', usage: toUsage(event.usage) };
        }
      } finally {
        deadline.dispose();
      }
    }
    return { id: `chatcmpl-${randomBytes(12).toString('hex')}`, model, chunks: chunks(), ...(notes ? { notes } : {}) };
  }

  async chat(req: ChatRequest, target: Target, opts: CallOptions): Promise<ChatResponse & { notes?: CallNotes }> {
    const deadline = callSignal(opts.signal, this.config.timeoutMs, this.id);
    try {
      const { model, call, notes } = await this.open(req, target, deadline.signal);
      let text = '';
      let finish: FinishReason = 'stop';
      let usage: Usage | undefined;
      let toolCalls: NonNullable<ChatResponse['choices'][number]['message']['toolCalls']> | undefined;
      for await (const event of call.events) {
        if (event.type === 'text') {
          text += event.text;
          continue;
        }
        finish = event.finish;
        usage = toUsage(event.usage);
        if (event.toolCalls?.length) {
          toolCalls = event.toolCalls.map((c) => ({ id: `call_${randomBytes(12).toString('hex')}`, type: 'function' as const, function: { name: c.name, arguments: c.arguments } }));
        }
      }
      return {
        id: `chatcmpl-${randomBytes(12).toString('hex')}`,
        model,
        created: Math.floor(Date.now() / 1000),
        choices: [{ index: 0, message: { content: toolCalls && text === '' ? null : text, ...(toolCalls ? { toolCalls } : {}) }, finishReason: finish }],
        usage,
        ...(notes ? { notes } : {}),
      };
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Embeddings from the model's own embedding context, batched with other requests to the same
   * model (see embed-batcher.ts), L2-normalised; `dimensions` shortens them (first values,
   * renormalised) and may not exceed the model's size. Usage counts the model's own tokens.
   */
  async embed(req: EmbedRequest, target: Target, opts: CallOptions): Promise<EmbedResponse> {
    const deadline = callSignal(opts.signal, this.config.timeoutMs, this.id);
    try {
      const model = this.modelOf(target);
      const host = await this.hostFor(model);
      const tooBig = (size: number) =>
        new ProviderError({ kind: 'invalid_request', provider: this.id, param: 'dimensions', retryable: true, message: `Invalid value for 'dimensions': local model ${model} makes vectors of ${size} dimensions; ask for at most that (got ${req.dimensions}).` });
      if (req.dimensions !== undefined && host.embeddingSize !== undefined && req.dimensions > host.embeddingSize) throw tooBig(host.embeddingSize);
      const texts = await this.textsOf(req.inputs);
      const out = await host.embed(texts, deadline.signal);
      if (req.dimensions !== undefined && req.dimensions > out.size) throw tooBig(out.size);
      return { model, vectors: out.vectors.map((v) => shapeVector(v, req.dimensions)), usage: { promptTokens: out.tokens, totalTokens: out.tokens } };
    } finally {
      deadline.dispose();
    }
  }

  /**
   * The inputs as text. Token arrays are in the encoding of OpenAI's embedding models
   * (cl100k_base): the local model has its own tokenizer, so they are decoded first.
   */
  private async textsOf(inputs: readonly EmbedInput[]): Promise<string[]> {
    if (inputs.every((i): i is string => typeof i === 'string')) return [...inputs];
    const enc = await loadEncoder('cl100k_base');
    return inputs.map((input, i) => {
      if (typeof input === 'string') return input;
      const text = enc.decode([...input]);
      if (!text) throw new ProviderError({ kind: 'invalid_request', provider: this.id, param: `input[${i}]`, message: `Invalid value for 'input[${i}]': no text in these tokens (cl100k_base, the encoding of OpenAI's embedding models).` });
      return text;
    });
  }

  /** The vector size of `model`: the loaded model's, else the built-in model's. */
  embeddingDimensions(model: string): number | undefined {
    const name = model || this.config.model || '';
    return this.hosts.get(name)?.embeddingSize ?? knownLocalEmbeddingSize(name, this.config);
  }

  async health(model?: string): Promise<HealthReport> {
    const started = performance.now();
    const name = model || this.config.model;
    if (!name) {
      const reports = await Promise.all([...this.hosts.entries()].map(async ([m, host]) => ({ model: m, ...(await host.health()) })));
      return { ok: reports.every((r) => r.ok), detail: reports.length ? `${reports.length} local model(s)` : 'no local model started', models: reports, latencyMs: Math.round(performance.now() - started) };
    }
    try {
      const host = await this.hostFor(name);
      return { model: name, ...(await host.health()) };
    } catch (err) {
      return { ok: false, model: name, detail: err instanceof Error ? err.message : String(err), loaded: false, latencyMs: Math.round(performance.now() - started) };
    }
  }

  /** Pid of a model's worker process, when one runs (tests and diagnostics). */
  workerPid(model?: string): number | undefined {
    const name = model || this.config.model;
    return name ? this.hosts.get(name)?.pid : undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    const hosts = [...this.hosts.values()];
    this.hosts.clear();
    await Promise.all(hosts.map((host) => host.close()));
  }
}
