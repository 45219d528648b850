import type { ChatRequest } from '../core/chat-request.js';
import type { ProviderError } from '../core/provider-error.js';
import type { Target } from '../core/provider.js';

/** How dispatch asks. */
export interface AdmitOptions {
  /**
   * Second pass, made only when no target of the route was admitted on the first: a gate may
   * now let in targets it would rather spare (one on probation) instead of the app getting a 503.
   */
  lastResort?: boolean;
}

export type CallOutcome = { ok: true; ms: number } | { ok: false; ms: number; error: ProviderError };

/**
 * Where health decisions plug into dispatch: circuit breakers, probation and shadow traffic
 * implement this. Dispatch asks before each call and reports after it; it never reads state.
 */
export interface TargetGate {
  /** Whether live traffic may go to this target of this route now. */
  admits(route: string, target: Target, opts?: AdmitOptions): boolean;
  /** The result of a live call (failures only of kinds that mean the provider is unwell count). */
  record(route: string, target: Target, outcome: CallOutcome): void;
  /** After a live request was served: a chance to mirror it to recovering targets. Must not block. */
  served?(route: string, req: ChatRequest, servedBy: Target): void;
}

/** Admits everything and remembers nothing: the gate when no breakers are configured. */
export const openGate: TargetGate = {
  admits: () => true,
  record: () => {},
};
