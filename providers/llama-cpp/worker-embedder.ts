/**
 * The embeddings side of a model worker: the model's embedding context (one sequence, made on
 * the first embeddings request, sharing the weights with the chat context) and the loop that
 * embeds a request's texts. Runs only inside the worker process.
 */
import type { LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { EngineError } from './engine-error.js';
import type { WorkerModelSpec } from './protocol.js';

export interface EmbedOutcome {
  /** Raw pooled vectors (not normalised), one per text. */
  vectors: Float32Array[];
  /** Tokens evaluated, by the model's tokenizer (beginning/end tokens included). */
  tokens: number;
  /** The model's vector size. */
  size: number;
}

interface Embedder {
  context: LlamaEmbeddingContext;
  size: number;
}

export class WorkerEmbedder {
  private embedder?: Promise<Embedder>;

  constructor(
    private readonly spec: WorkerModelSpec,
    /** The worker's weights, loaded once for chat and embeddings alike. */
    private readonly loadModel: () => Promise<LlamaModel>,
  ) {}

  /** An embedding context exists or is being made (its weights must stay loaded). */
  get started(): boolean {
    return this.embedder !== undefined;
  }

  /** The embedding context, created once (a failed attempt is retried by the next call). */
  private ensure(): Promise<Embedder> {
    if (!this.embedder) {
      const creating = (async (): Promise<Embedder> => {
        const model = await this.loadModel();
        // One batch the size of the context: a pooled embedding must see its whole input in
        // one evaluation (node-llama-cpp would otherwise split it, and pool only the last part).
        const context = await model.createEmbeddingContext({ contextSize: this.spec.contextSize, batchSize: this.spec.contextSize, threads: this.spec.threads });
        return { context, size: model.embeddingVectorSize };
      })();
      this.embedder = creating.catch((err: unknown) => {
        this.embedder = undefined;
        throw new EngineError('server', `model ${this.spec.id} cannot compute embeddings: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    return this.embedder;
  }

  /**
   * Embeds `texts` in order, one at a time (node-llama-cpp evaluates one input at a time on the
   * context's one sequence). Stops before the next text once `signal` aborts.
   */
  async embed(texts: readonly string[], signal: AbortSignal): Promise<EmbedOutcome> {
    const { context, size } = await this.ensure();
    const vectors: Float32Array[] = [];
    let tokens = 0;
    for (const [i, text] of texts.entries()) {
      if (signal.aborted) throw new EngineError('aborted', 'request aborted');
      const n = context.calculateInputLength(text);
      if (n >= this.spec.contextSize) {
        throw new EngineError('invalid_request', `input[${i}] is ${n} tokens; model ${this.spec.id} embeds at most ${this.spec.contextSize - 1} tokens per input`);
      }
      let vector: readonly number[];
      try {
        vector = (await context.getEmbeddingFor(text)).vector;
      } catch (err) {
        throw new EngineError('server', `embedding failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      tokens += n;
      vectors.push(Float32Array.from(vector));
    }
    if (signal.aborted) throw new EngineError('aborted', 'request aborted');
    return { vectors, tokens, size };
  }
}
