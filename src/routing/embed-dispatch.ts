/**
 * Embeddings in the routing engine: which targets of a route may serve a request, the checks
 * on what a target answered, and shadow calls to targets on probation. The retry, fallback,
 * concurrency-slot and deadline loop is the dispatcher's own (`run`), shared with chat.
 */
import { ProviderError, isProviderError, type ProviderErrorKind } from '../core/provider-error.js';
import { startDeadline } from '../core/deadline.js';
import type { CallNotes, EmbedRequest, EmbedResponse, EmbedUsage, Provider, Target } from '../core/provider.js';
import type { RouteConfig, TargetConfig } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { Attempt } from './attempts.js';
import { RouteError } from './route-error.js';
import { orderTargets } from './strategy.js';
import type { TargetGate } from './target-gate.js';
import { estimateTokens } from './token-count.js';

/** What the dispatcher's embed() answers. */
export interface RoutedEmbedding {
  response: EmbedResponse;
  target: Target;
  attempts: Attempt[];
  /** Time spent waiting on upstreams and backoff, for the overhead figure. */
  upstreamMs: number;
  notes?: CallNotes;
}

/** The targets to try, in order, and those on probation (for shadow calls). */
export interface EmbedPick {
  route: RouteConfig;
  targets: Target[];
  headers: Record<string, string>;
  /** Targets the gate spares (probation): live traffic goes elsewhere, a sample is mirrored to them. */
  recovering: Target[];
}

export interface EmbedPickDeps {
  routes: ReadonlyMap<string, RouteConfig>;
  providers: ReadonlyMap<string, Provider>;
  disabled: ReadonlyMap<string, string>;
  gate: TargetGate;
  random: () => number;
  /** A target's trust for privacy routing (local, trusted, untrusted). */
  trustOf?: (t: TargetConfig) => string;
}

const same = (a: Target, b: Target) => a.provider === b.provider && a.model === b.model;

/**
 * The targets of `req`'s route that may serve it now. Throws a RouteError: unknown route, a
 * chat route (400 naming `model`), no enabled target, no target whose provider serves
 * embeddings, or every breaker open.
 */
export function pickEmbedTargets(req: EmbedRequest, deps: EmbedPickDeps): EmbedPick {
  const name = req.model;
  const route = deps.routes.get(name);
  if (!route) throw new RouteError('unknown_route', `The model '${name}' does not exist or you do not have access to it.`, [], undefined, 'model');
  if (route.kind !== 'embeddings') {
    throw new RouteError('invalid_request', `The model '${name}' is a chat route, not an embeddings one: call POST /v1/chat/completions, or name a route with kind: embeddings.`, [], undefined, 'model');
  }
  const enabled = route.targets.filter((t) => deps.providers.has(t.provider));
  if (!enabled.length) {
    const why = route.targets.map((t) => `${t.provider}: ${deps.disabled.get(t.provider) ?? 'not configured'}`).join('; ');
    throw new RouteError('no_available_target', `No provider of route '${name}' is enabled (${why}).`);
  }
  const capable = enabled.filter((t) => typeof deps.providers.get(t.provider)!.embed === 'function');
  if (!capable.length) {
    const why = enabled.map((t) => `${t.provider}/${t.model}: provider kind ${deps.providers.get(t.provider)!.kind} serves no embeddings`).join('; ');
    throw new RouteError('no_capable_target', `No target of route '${name}' can serve embeddings (${why}).`);
  }
  // Privacy routing, as for chat: inputs carrying the route policy's privacy kinds stay on local/trusted targets.
  const privacy = req.meta.privacy;
  const headers: Record<string, string> = {};
  let eligible = capable;
  if (privacy && deps.trustOf) {
    const trustOf = deps.trustOf;
    const allowed = (t: TargetConfig) => privacy.allow.includes(trustOf(t));
    if (!route.targets.some(allowed)) {
      throw new RouteError('privacy_unavailable', `This request contains data (${privacy.kinds.join(', ')}) that may only go to ${privacy.allow.join(' or ')} targets, and route '${name}' has none.`, [], undefined, 'input');
    }
    eligible = capable.filter(allowed);
    if (!eligible.length) throw new RouteError('no_available_target', `This request contains data (${privacy.kinds.join(', ')}) that may only go to ${privacy.allow.join(' or ')} targets, and none of route '${name}' is enabled.`);
    headers['x-router-privacy'] = `restricted; kinds=${privacy.kinds.join(',')}; targets=${privacy.allow.join(',')}`;
  }
  let admitted = eligible.filter((t) => deps.gate.admits(name, t));
  // Admitted only as a last resort: on probation. They get shadow copies instead of live traffic.
  const recovering = admitted.length && !privacy ? eligible.filter((t) => !admitted.includes(t) && deps.gate.admits(name, t, { lastResort: true })) : [];
  if (!admitted.length) admitted = eligible.filter((t) => deps.gate.admits(name, t, { lastResort: true }));
  if (!admitted.length) throw new RouteError('no_available_target', `Every provider of route '${name}' is unavailable (circuit open); try again shortly.`);
  const ordered = orderTargets(route.strategy, admitted, (t) => t.weight, deps.random);
  const plain = (t: TargetConfig): Target => ({ provider: t.provider, model: t.model });
  return { route, targets: ordered.map(plain), headers, recovering: recovering.map(plain) };
}

function answerError(kind: ProviderErrorKind, provider: string, message: string, extra: { param?: string; code?: string } = {}): ProviderError {
  return new ProviderError({ kind, provider, message, retryable: true, ...extra });
}

/**
 * Calls `provider.embed` and checks the answer before anyone uses it: one vector per input, of
 * the size asked for (`dimensions`), else of the target's size (config `dimensions`, else what
 * the provider knows), every value finite. A target that ignores `dimensions` is skipped for
 * the next (invalid_request, not counted against its health); any other bad answer is a
 * `server` failure of the target.
 */
export async function embedChecked(provider: Provider, target: Target, req: EmbedRequest, route: RouteConfig, signal: AbortSignal): Promise<EmbedResponse> {
  if (!provider.embed) throw answerError('invalid_request', target.provider, `${target.provider} serves no embeddings`);
  const res = await provider.embed(req, target, { signal });
  const id = `${target.provider}/${target.model}`;
  if (res.vectors.length !== req.inputs.length) throw answerError('server', target.provider, `${id} answered ${res.vectors.length} embeddings for ${req.inputs.length} inputs`);
  const configured = route.targets.find((t) => same(t, target))?.dimensions;
  const expected = req.dimensions ?? configured ?? provider.embeddingDimensions?.(target.model);
  for (const v of res.vectors) {
    if (v.length === 0) throw answerError('server', target.provider, `${id} answered an empty embedding`);
    if (expected !== undefined && v.length !== expected) {
      if (req.dimensions !== undefined) {
        throw answerError('invalid_request', target.provider, `${id} answered ${v.length}-dimensional vectors for dimensions=${req.dimensions}: it does not support 'dimensions'.`, { param: 'dimensions' });
      }
      const source = configured !== undefined ? 'its dimensions in the route config' : 'the size the router knows for the model';
      throw answerError('server', target.provider, `${id} answered ${v.length}-dimensional vectors, not ${expected} (${source})`, { code: 'embedding_dimensions_mismatch' });
    }
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i]!)) throw answerError('server', target.provider, `${id} answered an embedding with a non-finite value`);
    }
  }
  return res;
}

/** The usage of an answer: as reported, else estimated (token arrays exactly, text by its length). */
export function embedUsage(req: EmbedRequest, res: EmbedResponse): EmbedUsage {
  if (res.usage) return res.usage;
  const tokens = req.inputs.reduce((n, input) => n + (typeof input === 'string' ? estimateTokens(input) : input.length), 0);
  return { promptTokens: tokens, totalTokens: tokens };
}

export interface EmbedShadowDeps {
  providers: ReadonlyMap<string, Provider>;
  gate: TargetGate;
  metrics?: Metrics;
  random: () => number;
  now: () => number;
}

/**
 * Shadow copies of embeddings requests to targets on probation: chat requests are mirrored by
 * the health gate (`served`), embeddings here, so a recovering embeddings target earns its way
 * back too. A sampled share (`shadow.sampleRate`), at most `shadow.maxConcurrent` in flight per
 * target, each under `shadow.timeoutMs`; the answer is checked like a live one, then dropped,
 * and the outcome goes to the gate. Never blocks or throws.
 */
export function createEmbedShadow(deps: EmbedShadowDeps) {
  const inflight = new Map<string, number>();
  return function mirror(req: EmbedRequest, pick: EmbedPick, servedBy: Target): void {
    const { route } = pick;
    for (const target of pick.recovering) {
      const key = `${target.provider}/${target.model}`;
      const provider = deps.providers.get(target.provider);
      if (!provider || same(target, servedBy) || deps.random() >= route.shadow.sampleRate) continue;
      if ((inflight.get(key) ?? 0) >= route.shadow.maxConcurrent) continue;
      inflight.set(key, (inflight.get(key) ?? 0) + 1);
      const deadline = startDeadline({ ms: route.shadow.timeoutMs });
      const started = deps.now();
      void embedChecked(provider, target, req, route, deadline.signal)
        .then(
          (res) => {
            deps.gate.record(req.model, target, { ok: true, ms: deps.now() - started });
            deps.metrics?.tokens.inc({ route: req.model, provider: target.provider, type: 'prompt', traffic: 'shadow' }, embedUsage(req, res).promptTokens);
          },
          (err: unknown) => {
            const timedOut = deadline.timedOut() && (!isProviderError(err) || err.kind === 'aborted');
            const error = timedOut
              ? new ProviderError({ kind: 'timeout', provider: target.provider, message: `${target.provider}: shadow embeddings call timed out after ${route.shadow.timeoutMs} ms` })
              : isProviderError(err)
                ? err
                : new ProviderError({ kind: 'internal', provider: target.provider, message: `${target.provider}: shadow embeddings call failed` });
            deps.gate.record(req.model, target, { ok: false, ms: deps.now() - started, error });
          },
        )
        .finally(() => {
          deadline.dispose();
          inflight.set(key, (inflight.get(key) ?? 1) - 1);
        });
    }
  };
}
