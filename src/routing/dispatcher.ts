import type { ChatRequest } from '../core/chat-request.js';
import type { ChatResponse, ChatStream } from '../core/chat-response.js';
import { ProviderError, isProviderError, isTransient } from '../core/provider-error.js';
import { startDeadline } from '../core/deadline.js';
import type { CallNotes, Capabilities, Provider, Target } from '../core/provider.js';
import type { RouteConfig, TargetConfig } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { Attempt } from './attempts.js';
import { backoffDelay, sleep } from './backoff.js';
import { countRequestTokens } from '../accounting/token-accounting.js';
import { needsTokenCount, promptCounter, staticUnfitOf, unfitFor } from './fit.js';
import { contextLengthExceeded, RouteError } from './route-error.js';
import { applyCaps, applyDefaultMaxTokens, CLAMPED_HEADER, DEFAULT_MAX_TOKENS_HEADER } from './caps.js';
import { dropOldest, TRUNCATED_HEADER } from './truncate.js';
import { openGate, type TargetGate } from './target-gate.js';
import { firstThenRest, guardStream } from './stream-guards.js';
import { orderTargets } from './strategy.js';
import { createTargetConcurrency, type Slot, type TargetConcurrency } from './target-concurrency.js';
import type { EmbedRequest } from '../core/provider.js';
import { createEmbedShadow, embedChecked, pickEmbedTargets, type RoutedEmbedding } from './embed-dispatch.js';

/** Response header of a request kept on local/trusted targets by privacy routing. */
export const PRIVACY_HEADER = 'x-router-privacy';

export interface DispatcherDeps {
  routes: Record<string, RouteConfig>;
  providers: ReadonlyMap<string, Provider>;
  /** Providers configured but off, with why. */
  disabled: ReadonlyMap<string, string>;
  gate?: TargetGate;
  /** Per-target concurrency caps; default: built from `routes`. Pass one to keep slots counted across config reloads. */
  concurrency?: TargetConcurrency;
  metrics?: Metrics;
  now?: () => number;
  random?: () => number;
}

interface Served {
  target: Target;
  attempts: Attempt[];
  /** Time spent waiting on upstreams and backoff, for the overhead figure. */
  upstreamMs: number;
  notes?: CallNotes;
}

export interface RoutedResponse extends Served {
  response: ChatResponse;
}

export interface RoutedStream extends Served {
  /** Already holds its first chunk: failover is over once the app sees it. */
  stream: ChatStream;
}

type Call<T> = (provider: Provider, target: Target, signal: AbortSignal) => Promise<T>;

/** A route's targets for one request, in the order to try them, and the response headers the choice adds. */
type Picked = { route: RouteConfig; targets: Target[]; headers: Record<string, string> };

/** Provider kinds whose answers never leave the process: trusted as `local` by privacy routing unless a target says otherwise. */
const LOCAL_KINDS: ReadonlySet<string> = new Set(['llama-cpp', 'rules']);

/** The routing engine: pick targets, retry, fall back, record. */
export function createDispatcher(deps: DispatcherDeps) {
  const now = deps.now ?? (() => performance.now());
  const random = deps.random ?? Math.random;
  const gate = deps.gate ?? openGate;
  const concurrency = deps.concurrency ?? createTargetConcurrency({ routes: deps.routes, metrics: deps.metrics, now });
  // A Map, never a property lookup: a route name comes from the app ("toString", "__proto__").
  const routes = new Map(Object.entries(deps.routes));
  /** A target's trust for privacy routing: its own setting, else local for the in-process model, untrusted for a cloud. */
  const trustOf = (t: TargetConfig): string => t.trust ?? (LOCAL_KINDS.has(deps.providers.get(t.provider)?.kind ?? '') ? 'local' : 'untrusted');

  async function candidates(req: ChatRequest): Promise<Picked> {
    const route = routes.get(req.model);
    if (!route) {
      throw new RouteError('unknown_route', `The model '${req.model}' does not exist or you do not have access to it.`, [], undefined, 'model');
    }
    if (route.kind === 'embeddings') {
      throw new RouteError('invalid_request', `The model '${req.model}' is an embeddings route: call POST /v1/embeddings, or name a chat route.`, [], undefined, 'model');
    }
    // What the router changed in the request, for the app to see in response headers.
    const headers: Record<string, string> = {};
    const clamped = applyCaps(req, route, req.model);
    if (clamped.length) headers[CLAMPED_HEADER] = clamped.join(', ');
    // After the caps: from here on the request has a definite max_tokens when the route sets one.
    const defaulted = applyDefaultMaxTokens(req, route);
    if (defaulted !== undefined) headers[DEFAULT_MAX_TOKENS_HEADER] = String(defaulted);
    // Capabilities once per target: a provider may consult files (the local model registry) for them.
    let enabled = route.targets.flatMap((t) => {
      const provider = deps.providers.get(t.provider);
      return provider ? [{ target: t, caps: provider.capabilities(t.model) }] : [];
    });
    // Privacy routing: a prompt with data of the route's privacy kinds goes only to local/trusted targets.
    const privacy = req.meta.privacy;
    if (privacy) {
      const allowed = (t: TargetConfig) => privacy.allow.includes(trustOf(t));
      const kinds = privacy.kinds.join(', ');
      if (!route.targets.some(allowed)) {
        throw new RouteError('privacy_unavailable', `This request contains data (${kinds}) that may only go to ${privacy.allow.join(' or ')} targets, and route '${req.model}' has none.`, [], undefined, 'messages');
      }
      enabled = enabled.filter((e) => allowed(e.target));
      if (!enabled.length) {
        throw new RouteError('no_available_target', `This request contains data (${kinds}) that may only go to ${privacy.allow.join(' or ')} targets, and none of route '${req.model}' is enabled.`);
      }
      headers[PRIVACY_HEADER] = `restricted; kinds=${privacy.kinds.join(',')}; targets=${privacy.allow.join(',')}`;
    }
    // Prompt tokens are counted only for a target whose context the characters alone cannot
    // prove big enough, in that target's encoding, once per encoding.
    let count = promptCounter(req);
    let fit = await judgeFit(req, enabled, count);
    let truncatedTokens: number | undefined;
    const longest = largestContext(fit.tooLong);
    if (!fit.capable.length && longest && (route.truncation?.mode === 'drop_oldest' || req.meta.fitHistory)) {
      const { target, caps } = longest;
      const full = req.messages;
      const cut = await dropOldest(full, caps.contextLength! - (req.params.maxTokens ?? 0), (messages) =>
        messages === full ? count(target.model) : countRequestTokens({ ...req, messages }, target.model),
      );
      if (cut.fits) {
        req.messages = cut.messages;
        headers[TRUNCATED_HEADER] = `${cut.dropped} messages`;
        count = promptCounter(req, { known: { model: target.model, tokens: cut.tokens } });
        fit = await judgeFit(req, enabled, count);
      } else truncatedTokens = cut.tokens;
    }
    const { capable, unfit } = fit;
    if (!capable.length) {
      if (!enabled.length) {
        const why = route.targets.map((t) => `${t.provider}: ${deps.disabled.get(t.provider) ?? 'not configured'}`).join('; ');
        throw new RouteError('no_available_target', `No provider of route '${req.model}' is enabled (${why}).`);
      }
      // Some target could serve it but for its length: the app can shorten it.
      if (longest) {
        throw contextLengthExceeded({
          route: req.model,
          promptTokens: truncatedTokens ?? (await count(longest.target.model)),
          maxTokens: req.params.maxTokens,
          maxTokensField: req.params.maxTokensField,
          defaulted: defaulted !== undefined,
          largestContext: longest.caps.contextLength!,
          truncated: truncatedTokens !== undefined,
          detail: unfit.join('; '),
        });
      }
      throw new RouteError('no_capable_target', `No target of route '${req.model}' can serve this request (${unfit.join('; ')}).`);
    }
    let admitted = capable.filter((t) => gate.admits(req.model, t));
    // A target the gate would rather spare (on probation) serves only when nothing else may.
    if (!admitted.length) admitted = capable.filter((t) => gate.admits(req.model, t, { lastResort: true }));
    if (!admitted.length && privacy) {
      throw new RouteError('no_available_target', `This request contains data (${privacy.kinds.join(', ')}) that may only go to ${privacy.allow.join(' or ')} targets, and none of route '${req.model}' is available right now (circuit open); try again shortly.`);
    }
    if (!admitted.length) {
      throw new RouteError('no_available_target', `Every provider of route '${req.model}' is unavailable (circuit open); try again shortly.`);
    }
    const ordered = orderTargets(route.strategy, admitted, (t) => t.weight, random);
    return { route, targets: ordered.map((t) => ({ provider: t.provider, model: t.model })), headers };
  }

  /**
   * Tries targets in turn. `deferSuccess`: a stream's success is only known at its end, so the
   * caller records it then (recording at the first chunk and again on a mid-stream failure
   * would count one call twice and hide a target whose every stream breaks). It also keeps
   * the call's concurrency slot, returned as `slot`, for the caller to release at the end.
   *
   * Before each call a concurrency slot of the target is taken, at once or after a wait in its
   * queue. A target that cannot give one is skipped (attempt outcome `capacity`, no retry on
   * it, nothing recorded against its health); when the last target tried was skipped so, the
   * route fails with kind `capacity` and the soonest Retry-After of the targets skipped.
   */
  async function run<T>(req: { readonly model: string }, picked: Promise<Picked>, signal: AbortSignal, call: Call<T>, deferSuccess = false): Promise<Served & { value: T; headers: Record<string, string>; slot: Slot }> {
    const { route, targets, headers } = await picked;
    // The route's deadline covers everything: queueing for a socket, retries, backoff, fallbacks.
    const routeDeadline = startDeadline({ light: true, parents: [signal], ms: route.timeoutMs, timeoutReason: () => new DOMException('route deadline', 'TimeoutError') });
    const deadline = routeDeadline.signal;
    try {
      const attempts: Attempt[] = [];
      let upstreamMs = 0;
      let last: ProviderError | undefined;
      let retryAfterMs = Infinity;
      for (const [ti, target] of targets.entries()) {
        const provider = deps.providers.get(target.provider)!;
        for (let attempt = 1; attempt <= route.retry.attempts; attempt++) {
          const queued = now();
          const got = await concurrency.acquire(target, deadline);
          // Waiting for a slot is waiting on the upstream's capacity, not router overhead.
          upstreamMs += now() - queued;
          if (!got.ok) {
            if (got.reason === 'aborted') {
              if (signal.aborted) throw new ProviderError({ kind: 'aborted', provider: target.provider, message: 'client closed the request' });
              attempts.push({ provider: target.provider, model: target.model, outcome: 'timeout', ms: got.waitedMs, message: 'route deadline passed while waiting for a concurrency slot' });
              break;
            }
            retryAfterMs = Math.min(retryAfterMs, got.retryAfterMs);
            const why = got.reason === 'queue_full' ? 'all its slots are busy and its queue is full' : `no slot came free within ${Math.round(got.waitedMs)} ms`;
            last = new ProviderError({ kind: 'capacity', provider: target.provider, message: `${target.provider}/${target.model} is at its concurrency limit (${why})`, retryAfterMs });
            attempts.push({ provider: target.provider, model: target.model, outcome: 'capacity', ms: got.waitedMs, message: last.message });
            break;
          }
          const started = now();
          try {
            const value = await call(provider, target, deadline);
            const ms = now() - started;
            upstreamMs += ms;
            attempts.push({ provider: target.provider, model: target.model, outcome: 'ok', ms, startedAt: started });
            if (!deferSuccess) gate.record(req.model, target, { ok: true, ms });
            deps.metrics?.hot.upstreamLatency.observe([target.provider, target.model, 'ok'], ms / 1000);
            // A whole answer is over: its slot is free. A stream keeps it until it ends (the caller's).
            if (!deferSuccess) got.slot.release();
            return { value, target, attempts, upstreamMs, headers, slot: got.slot };
          } catch (raw) {
            got.slot.release();
            const ms = now() - started;
            upstreamMs += ms;
            const err = toProviderError(raw, target.provider, signal, deadline);
            last = err;
            attempts.push({ provider: target.provider, model: target.model, outcome: err.kind, ms, startedAt: started, message: err.message });
            deps.metrics?.upstreamLatency.observe({ provider: target.provider, model: target.model, outcome: err.kind }, ms / 1000);
            if (err.kind === 'aborted') throw err;
            gate.record(req.model, target, { ok: false, ms, error: err });
            if (!err.retryable || !isTransient(err.kind) || deadline.aborted) break;
            if (attempt < route.retry.attempts) {
              const delay = backoffDelay(attempt, route.retry, random, err.retryAfterMs);
              // A wait longer than the retry budget allows is better spent on the next target.
              if (delay > route.retry.maxDelayMs) break;
              deps.metrics?.retries.inc({ provider: target.provider, model: target.model, kind: err.kind });
              const waitStart = now();
              await sleep(delay, deadline).catch(() => {});
              upstreamMs += now() - waitStart;
              if (deadline.aborted) break;
            }
          }
        }
        if (signal.aborted) throw new ProviderError({ kind: 'aborted', provider: target.provider, message: 'client closed the request' });
        if (deadline.aborted || !last?.retryable) break;
        const next = targets[ti + 1];
        if (next) deps.metrics?.fallbacks.inc({ route: req.model, from: `${target.provider}/${target.model}`, to: `${next.provider}/${next.model}`, kind: last.kind });
      }
      if (deadline.aborted && !signal.aborted && last?.kind !== 'timeout') {
        last = new ProviderError({ kind: 'timeout', provider: last?.provider ?? 'router', message: `route '${req.model}' deadline of ${route.timeoutMs} ms exceeded` });
      }
      throw new RouteError('exhausted', last?.message ?? 'all targets failed', attempts, last);
    } finally {
      routeDeadline.dispose();
    }
  }

  const mirrorEmbed = createEmbedShadow({ providers: deps.providers, gate, metrics: deps.metrics, random, now });

  return {
    /** Names of the routes apps may call. */
    routeNames: (): string[] => [...routes.keys()],
    /** Whether `name` is a route (own names only, never Object.prototype members). */
    hasRoute: (name: string): boolean => routes.has(name),

    async chat(req: ChatRequest, signal: AbortSignal): Promise<RoutedResponse> {
      const r = await run(req, candidates(req), signal, (p, t, s) => p.chat(req, t, { signal: s }));
      // A privacy-restricted prompt is never mirrored: a target on probation may be a cloud.
      if (!req.meta.privacy) gate.served?.(req.model, req, r.target);
      return { response: r.value, target: r.target, attempts: r.attempts, upstreamMs: r.upstreamMs, notes: withRouteHeaders(r.value.notes, r.headers) };
    },

    /** Embeddings through the same retries, fallbacks, breakers, slots and deadline as chat (see embed-dispatch.ts). */
    async embed(req: EmbedRequest, signal: AbortSignal): Promise<RoutedEmbedding> {
      const pick = pickEmbedTargets(req, { routes, providers: deps.providers, disabled: deps.disabled, gate, random, trustOf });
      const r = await run(req, Promise.resolve(pick), signal, (p, t, s) => embedChecked(p, t, req, pick.route, s));
      // A privacy-restricted input is never mirrored.
      if (!req.meta.privacy) mirrorEmbed(req, pick, r.target);
      return { response: r.value, target: r.target, attempts: r.attempts, upstreamMs: r.upstreamMs, notes: withRouteHeaders(undefined, r.headers) };
    },

    /**
     * Opens a stream and waits for its first chunk: until then a failure falls back like any
     * other; after it, failures surface from the iterator for the edge to report in-stream.
     */
    async stream(req: ChatRequest, signal: AbortSignal): Promise<RoutedStream> {
      const route = routes.get(req.model);
      const r = await run(req, candidates(req), signal, async (p, t, deadline) => {
        // The upstream call gets its own signal: until the first chunk it follows the route
        // deadline and the first-token timer; after it, only the app leaving ends it.
        const call = startDeadline({ light: true, parents: [deadline], ms: route?.firstTokenTimeoutMs ?? 30_000, timeoutReason: () => new DOMException('first token timeout', 'TimeoutError') });
        try {
          const stream = await p.stream(req, t, { signal: call.signal });
          const chunks = await firstThenRest(stream.chunks, call.signal, t.provider);
          call.dispose();
          call.follow(signal);
          return { ...stream, chunks, abortUpstream: () => call.abort(), unlink: () => call.dispose() };
        } catch (err) {
          call.abort();
          call.dispose();
          throw err;
        }
      }, true);
      const idleMs = route?.idleTimeoutMs ?? 30_000;
      const { abortUpstream, unlink, ...stream } = r.value;
      const started = now();
      // The target's concurrency slot is held until the stream is over, however it ends; a
      // stream given up before its first read still closes its upstream call.
      const chunks = guardStream(stream.chunks, {
        provider: r.target.provider,
        idleMs,
        maxMs: route?.maxStreamMs ?? Infinity,
        signal,
        slot: r.slot,
        now,
        ok: () => gate.record(req.model, r.target, { ok: true, ms: r.attempts.at(-1)!.ms + now() - started }),
        failed: (error) => gate.record(req.model, r.target, { ok: false, ms: now() - started, error }),
        abortUpstream,
        over: unlink,
      });
      // A privacy-restricted prompt is never mirrored: a target on probation may be a cloud.
      if (!req.meta.privacy) gate.served?.(req.model, req, r.target);
      return { stream: { ...stream, chunks }, target: r.target, attempts: r.attempts, upstreamMs: r.upstreamMs, notes: withRouteHeaders(r.value.notes, r.headers) };
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
export type { RoutedEmbedding } from './embed-dispatch.js';

/** The provider's notes plus what the route changed in the request (caps, defaults, truncation), for the app to see. */
function withRouteHeaders(notes: CallNotes | undefined, headers: Record<string, string>): CallNotes | undefined {
  if (!Object.keys(headers).length) return notes;
  return { ...notes, headers: { ...notes?.headers, ...headers } };
}

type Enabled = { target: TargetConfig; caps: Capabilities };

/** Targets that can serve `req`; why the others cannot; those unfit only for its length. */
async function judgeFit(req: ChatRequest, enabled: readonly Enabled[], count: (model: string) => Promise<number>) {
  const capable: TargetConfig[] = [];
  const unfit: string[] = [];
  const tooLong: Enabled[] = [];
  for (const e of enabled) {
    // Most targets are judged without a count: no promise for them.
    const why = needsTokenCount(req, e.caps) ? await unfitFor(req, e.caps, e.target.model, count) : staticUnfitOf(req, e.caps);
    if (!why) capable.push(e.target);
    else {
      unfit.push(`${e.target.provider}/${e.target.model}: ${why.why}`);
      if (why.kind === 'context') tooLong.push(e);
    }
  }
  return { capable, unfit, tooLong };
}

/** The target with the largest context (the first of equals), if any. */
function largestContext(targets: readonly Enabled[]): Enabled | undefined {
  let best: Enabled | undefined;
  for (const e of targets) if (!best || e.caps.contextLength! > best.caps.contextLength!) best = e;
  return best;
}

function toProviderError(raw: unknown, provider: string, client: AbortSignal, deadline: AbortSignal): ProviderError {
  if (client.aborted) return new ProviderError({ kind: 'aborted', provider, message: 'client closed the request' });
  if (isProviderError(raw)) {
    // An abort caused by the router's own deadline or first-token timer is a timeout, not the app leaving.
    if (raw.kind === 'aborted') return new ProviderError({ kind: 'timeout', provider, message: `${provider}: timed out waiting for the upstream`, cause: raw });
    return raw;
  }
  if (deadline.aborted || (raw instanceof Error && raw.name === 'TimeoutError')) {
    return new ProviderError({ kind: 'timeout', provider, message: `${provider}: timed out waiting for the upstream` });
  }
  // Adapters throw ProviderErrors; anything else is the router's own failure (a bug), which
  // must never count against a healthy target or reach the app with its internals.
  return new ProviderError({ kind: 'internal', provider, message: `${provider}: the router failed while calling the provider`, cause: raw });
}
