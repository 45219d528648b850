/**
 * The node-llama-cpp side of a model worker: one model, one context with `parallel` sequences,
 * one request per sequence. Runs only inside the worker process, never in the router.
 */
import { randomInt } from 'node:crypto';
import {
  getLlama,
  JinjaTemplateChatWrapper,
  LlamaChat,
  LlamaLogLevel,
  resolveChatWrapper,
  specializedChatWrapperTypeNames,
  type ChatHistoryItem,
  type ChatModelFunctions,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
} from 'node-llama-cpp';
import type { FinishReason } from '../../src/core/chat-response.js';
import { compactHistory } from './compaction.js';
import { jsonLandingBias } from './json-landing.js';
import { EngineError } from './engine-error.js';
import type { GenerateParams, WorkerModelSpec, WorkerToolCall, WorkerTurn, WorkerUsage } from './protocol.js';
import { WorkerEmbedder, type EmbedOutcome } from './worker-embedder.js';

export { EngineError } from './engine-error.js';
export type { EmbedOutcome } from './worker-embedder.js';

/** Completion tokens reserved when compacting a request that names no max_tokens. */
const DEFAULT_RESERVE_TOKENS = 256;
const GRAMMAR_CACHE_SIZE = 32;
const ANY_OBJECT_SCHEMA = { type: 'object', additionalProperties: true } as const;

export interface GenerateHooks {
  onStarted(info: { promptTokens: number; dropped: number }): void;
  onText(text: string): void;
}

export interface GenerateOutcome {
  finish: FinishReason;
  usage: WorkerUsage;
  toolCalls?: WorkerToolCall[];
}

interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
  wrapper: ChatWrapper;
}

export interface EngineEvents {
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** The model and its context are ready (first successful load only). */
  loaded(info: { loadMs: number; contextSize: number; chatWrapper: string }): void;
}

function toHistory(turns: readonly WorkerTurn[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = turns.map((turn): ChatHistoryItem => {
    if (turn.role === 'system') return { type: 'system', text: turn.text };
    if (turn.role === 'user') return { type: 'user', text: turn.text };
    return { type: 'model', response: [turn.text] };
  });
  history.push({ type: 'model', response: [] });
  return history;
}

function abortedError(): EngineError {
  return new EngineError('aborted', 'request aborted');
}

export class WorkerEngine {
  private llama?: Llama;
  private loadedState?: Loaded;
  private loading?: Promise<Loaded>;
  /** The weights, shared by the chat context and the embedding context. */
  private modelLoading?: Promise<LlamaModel>;
  private readonly embedder: WorkerEmbedder;
  private readonly grammars = new Map<string, LlamaGrammar>();
  private readonly sequenceWaiters: Array<() => void> = [];
  loadError?: string;
  running = 0;

  constructor(
    private readonly spec: WorkerModelSpec,
    private readonly events: EngineEvents,
  ) {
    this.embedder = new WorkerEmbedder(spec, () => this.loadModel());
  }

  get loaded(): boolean {
    return this.loadedState !== undefined;
  }

  /** Loads the native bindings (CPU only: never build, never probe a GPU). */
  async init(): Promise<void> {
    this.llama = await getLlama({
      // CPU everywhere (gpuLayers: 0 below); on Apple silicon the only prebuilt binary is the Metal
      // one, so it is loaded as such while compute stays on the CPU.
      gpu: process.platform === 'darwin' && process.arch === 'arm64' ? 'metal' : false,
      build: 'never',
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => {
        const text = message.trim();
        if (text === '') return;
        this.events.log(level === LlamaLogLevel.error || level === LlamaLogLevel.fatal ? 'error' : level === LlamaLogLevel.warn ? 'warn' : 'debug', text);
      },
    });
  }

  /** Loads the model once; a failed load is retried by the next call. */
  ensureLoaded(): Promise<Loaded> {
    if (this.loadedState) return Promise.resolve(this.loadedState);
    const started = performance.now();
    this.loading ??= this.load().then(
      (state) => {
        this.loadedState = state;
        this.loadError = undefined;
        this.events.loaded({ loadMs: Math.round(performance.now() - started), contextSize: state.context.contextSize, chatWrapper: state.wrapper.wrapperName });
        return state;
      },
      (err: unknown) => {
        this.loading = undefined;
        this.loadError = err instanceof Error ? err.message : String(err);
        throw new EngineError('server', `failed to load model ${this.spec.id} from ${this.spec.path}: ${this.loadError}`);
      },
    );
    return this.loading;
  }

  /** Loads the weights once; a failed load is retried by the next call. */
  private loadModel(): Promise<LlamaModel> {
    if (!this.modelLoading) {
      const loading = (async () => {
        if (!this.llama) await this.init();
        return (this.llama as Llama).loadModel({ modelPath: this.spec.path, gpuLayers: 0 });
      })();
      this.modelLoading = loading;
      loading.catch(() => {
        if (this.modelLoading === loading) this.modelLoading = undefined;
      });
    }
    return this.modelLoading;
  }

  private async load(): Promise<Loaded> {
    const model = await this.loadModel();
    try {
      // One context, `parallel` sequences of `contextSize` tokens each; threads default to 1
      // (node-llama-cpp's own default oversubscribes small machines badly).
      const context = await model.createContext({
        sequences: this.spec.parallel,
        contextSize: this.spec.contextSize,
        threads: this.spec.threads,
      });
      return { model, context, wrapper: this.resolveWrapper(model) };
    } catch (err) {
      // A failed context or a bad chat template: free the weights before the next attempt
      // (unless the embedding context uses them).
      if (!this.embedder.started) {
        this.modelLoading = undefined;
        await model.dispose();
      }
      throw err;
    }
  }

  /** Embeds `texts` in order (see worker-embedder.ts); stops before the next text once `signal` aborts. */
  async embed(texts: readonly string[], signal: AbortSignal): Promise<EmbedOutcome> {
    this.running++;
    try {
      return await this.embedder.embed(texts, signal);
    } finally {
      this.running--;
    }
  }

  private resolveWrapper(model: LlamaModel): ChatWrapper {
    const template = this.spec.chatTemplate;
    if (template === undefined) return resolveChatWrapper(model);
    if ((specializedChatWrapperTypeNames as readonly string[]).includes(template)) {
      return resolveChatWrapper(model, { type: template as (typeof specializedChatWrapperTypeNames)[number] });
    }
    return new JinjaTemplateChatWrapper({ template, tokenizer: model.tokenizer });
  }

  private async grammarFor(format: GenerateParams['format']): Promise<LlamaGrammar | undefined> {
    if (!format || !this.llama) return undefined;
    const key = format.type === 'json_object' ? 'json' : JSON.stringify(format.schema);
    const hit = this.grammars.get(key);
    if (hit) return hit;
    // json_object uses the schema grammar of "any object" rather than getGrammarFor('json'):
    // the latter allows 21 whitespace characters per gap, which weak models fill, padding the
    // answer and making the closing landing (json-landing.ts) long and hard to size.
    const schema = format.type === 'json_object' ? ANY_OBJECT_SCHEMA : format.schema;
    let grammar: LlamaGrammar;
    try {
      grammar = await this.llama.createGrammarForJsonSchema(schema as Parameters<Llama['createGrammarForJsonSchema']>[0]);
    } catch (err) {
      throw new EngineError('invalid_request', `response_format json_schema is not supported by the local model's grammar: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (this.grammars.size >= GRAMMAR_CACHE_SIZE) this.grammars.delete(this.grammars.keys().next().value as string);
    this.grammars.set(key, grammar);
    return grammar;
  }

  /** Takes a free sequence. The parent never sends more than `parallel` requests, so waiting is rare (a dispose still in flight). */
  private async takeSequence(context: LlamaContext, signal: AbortSignal): Promise<LlamaContextSequence> {
    while (context.sequencesLeft === 0) {
      if (signal.aborted) throw abortedError();
      await new Promise<void>((resolve) => this.sequenceWaiters.push(resolve));
    }
    return context.getSequence();
  }

  async generate(turns: WorkerTurn[], params: GenerateParams, signal: AbortSignal, hooks: GenerateHooks): Promise<GenerateOutcome> {
    this.running++;
    try {
      const { model, context, wrapper } = await this.ensureLoaded();
      if (signal.aborted) throw abortedError();
      const grammar = await this.grammarFor(params.format);
      const functions: ChatModelFunctions | undefined = params.tools?.length
        ? Object.fromEntries(params.tools.map((tool) => [tool.name, { description: tool.description, params: tool.parameters as never }]))
        : undefined;
      const sequence = await this.takeSequence(context, signal);
      try {
        return await this.run(model, wrapper, sequence, turns, params, grammar, functions, signal, hooks);
      } finally {
        // A fresh sequence per request: no KV-cache state or history leaks into the next one.
        await sequence.dispose();
        this.sequenceWaiters.shift()?.();
      }
    } finally {
      this.running--;
    }
  }

  private async run(
    model: LlamaModel,
    wrapper: ChatWrapper,
    sequence: LlamaContextSequence,
    turns: WorkerTurn[],
    params: GenerateParams,
    grammar: LlamaGrammar | undefined,
    functions: ChatModelFunctions | undefined,
    signal: AbortSignal,
    hooks: GenerateHooks,
  ): Promise<GenerateOutcome> {
    const contextSize = sequence.contextSize;
    const countTokens = (ts: WorkerTurn[]): number =>
      wrapper.generateContextState({ chatHistory: toHistory(ts), availableFunctions: functions }).contextText.tokenize(model.tokenizer).length;
    const reserve = Math.min(params.maxTokens ?? DEFAULT_RESERVE_TOKENS, Math.floor(contextSize / 2));
    const fit = compactHistory(turns, contextSize - reserve, countTokens);
    const room = contextSize - fit.promptTokens;
    if (room < 1) {
      throw new EngineError('invalid_request', `prompt is ${fit.promptTokens} tokens after compaction; model ${this.spec.id} has a context of ${contextSize} tokens`);
    }
    // Never let node-llama-cpp shift the context: the answer ends at the context's end, finish "length".
    const maxTokens = Math.min(params.maxTokens ?? room, room);
    hooks.onStarted({ promptTokens: fit.promptTokens, dropped: fit.dropped });

    let generated = 0;
    const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: wrapper });
    const penalties = params.presencePenalty !== undefined || params.frequencyPenalty !== undefined;
    const common = {
      onTextChunk: (text: string) => hooks.onText(text),
      onToken: (tokens: readonly unknown[]) => {
        generated += tokens.length;
      },
      signal,
      stopOnAbortSignal: true,
      maxTokens,
      temperature: params.temperature,
      topP: params.topP,
      topK: params.topK,
      minP: params.minP,
      // node-llama-cpp seeds with the current second when none is given: same-second requests would repeat.
      seed: params.seed ?? randomInt(2 ** 31),
      customStopTriggers: params.stop?.length ? params.stop : undefined,
      repeatPenalty: penalties ? { penalty: 1, presencePenalty: params.presencePenalty, frequencyPenalty: params.frequencyPenalty } : (false as const),
      trimWhitespaceSuffix: false,
    };
    try {
      const meterStart = sequence.tokenMeter.usedOutputTokens;
      const result = functions
        ? await chat.generateResponse(toHistory(fit.turns), { ...common, functions })
        : await chat.generateResponse(toHistory(fit.turns), {
            ...common,
            grammar,
            tokenBias: grammar ? jsonLandingBias(model, maxTokens, () => generated, params.format?.type === 'json_schema' ? params.format.schema : undefined) : undefined,
          });
      if (signal.aborted) throw abortedError();
      const completionTokens = Math.max(generated, sequence.tokenMeter.usedOutputTokens - meterStart);
      const usage = { promptTokens: fit.promptTokens, completionTokens };
      const calls = result.functionCalls ?? [];
      if (calls.length > 0) {
        const toolCalls = calls.map((call) => ({ name: call.functionName, arguments: JSON.stringify(call.params ?? {}) }));
        return { finish: 'tool_calls', usage, toolCalls };
      }
      return { finish: result.metadata.stopReason === 'maxTokens' ? 'length' : 'stop', usage };
    } catch (err) {
      if (signal.aborted) throw abortedError();
      if (err instanceof EngineError) throw err;
      throw new EngineError('server', `generation failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      chat.dispose({ disposeSequence: false });
    }
  }
}
