/**
 * Embeddings from an OpenAI-style endpoint (OpenAI, Azure deployments, compatible servers)
 * through the SDK's `client.embeddings.create`. Where to send it is api.ts's business; the
 * body and the answer are mapped only in src/wire/embeddings; every failure goes through the
 * one classifier.
 */
import type { EmbeddingCreateParams } from 'openai/resources/embeddings';
import type { CallOptions, EmbedRequest, EmbedResponse, Target } from '../../src/core/provider.js';
import { fromWireEmbeddingResponse, toWireEmbeddingRequest } from '../../src/wire/embeddings/upstream-embeddings.js';
import { isObj } from '../../src/wire/wire-common.js';
import { callDeadline, READ_WHOLE, type UpstreamApi } from './api.js';
import { classify } from './chat-complete.js';
import { classifyOpenAIError, UpstreamAnswerError } from './openai-error.js';

/** Reads the answer; anything but an embeddings list is an upstream failure. */
function readEmbeddings(data: unknown, count: number, model: string): EmbedResponse {
  // The SDK hands back text when the content-type is not JSON; some servers mislabel JSON.
  let json: unknown = data;
  if (typeof data === 'string') {
    try {
      json = JSON.parse(data);
    } catch {
      throw new UpstreamAnswerError('upstream answer is not JSON');
    }
  }
  if (isObj(json) && json.error != null && !Array.isArray(json.data)) throw new UpstreamAnswerError('upstream answered 200 with an error body', json);
  try {
    return fromWireEmbeddingResponse(json, count, model);
  } catch (err) {
    throw new UpstreamAnswerError(`upstream answer is not an embeddings list (${(err as Error).message})`);
  }
}

/** One embeddings call. */
export async function createEmbeddings(api: UpstreamApi, req: EmbedRequest, target: Target, opts: CallOptions): Promise<EmbedResponse> {
  let body: Record<string, unknown>;
  try {
    body = toWireEmbeddingRequest(req, api.embeddingModel(target.model));
  } catch (err) {
    throw classifyOpenAIError(err, api.providerId, { secrets: api.secrets });
  }
  return api.withClient(async (client) => {
    // The deadline covers queueing for a socket, the answer's headers and reading its body.
    const deadline = callDeadline(opts.signal, api.timeoutMs);
    try {
      // encoding_format is set (base64), so the SDK hands the answer back as it came.
      const data: unknown = await client.embeddings.create(body as unknown as EmbeddingCreateParams, { signal: deadline.signal, fetchOptions: READ_WHOLE });
      return readEmbeddings(data, req.inputs.length, target.model);
    } catch (err) {
      throw classify(api, err, opts.signal, deadline);
    } finally {
      deadline.dispose();
    }
  });
}
