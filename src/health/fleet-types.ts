import type { HealthError, ProbeRecord, TargetState } from './target-health.js';

/**
 * The contracts of shared target health (several router instances on one Redis): what is
 * stored and published per target, the store the fleet layer talks to (Redis, or a fake in
 * tests), and the two faces between a health gate and the fleet layer.
 */

/** What a shared transition was; also the `type` label of the fleet event metric. */
export type FleetEventType = 'open' | 'probation' | 'promote' | 'drain' | 'restore' | 'release';

export const FLEET_EVENT_TYPES: readonly FleetEventType[] = ['open', 'probation', 'promote', 'drain', 'restore', 'release'];

/** The state each kind of transition leads to. */
export const STATE_AFTER: Readonly<Record<FleetEventType, TargetState>> = {
  open: 'open',
  probation: 'probation',
  promote: 'healthy',
  drain: 'drained',
  restore: 'healthy',
  release: 'open',
};

export interface DrainNote {
  at: number;
  by?: string;
  reason?: string;
}

/** A target's fleet-wide health: one Redis hash per target. Absent means healthy, version 0. */
export interface SharedHealth {
  /** Bumped by every write; news of a version not above the one known is stale and ignored. */
  ver: number;
  state: TargetState;
  event?: FleetEventType;
  /** When the state began, on the instance that decided it. */
  since: number;
  /** Instance that wrote it. */
  by?: string;
  /** When it was written (later than `since` for a decision made while Redis was away). */
  at?: number;
  why?: string;
  lastError?: HealthError;
  drain?: DrainNote;
  /** The last probe of the instance holding the probe lease. */
  lastProbe?: ProbeRecord;
}

/** A local transition as the gate decided it; the fleet layer adds version, instance and time. */
export interface Transition {
  event: FleetEventType;
  since: number;
  why: string;
  lastError?: HealthError;
  drain?: DrainNote;
  lastProbe?: ProbeRecord;
  /**
   * When the write may land: the shared state must still be `state` (the one this instance
   * moved from), and with `phase` also at the version it knew when it decided (a promotion or a
   * failure in probation belongs to one probation). Absent: unconditional (an operator's word).
   */
  expect?: { state: TargetState; phase?: boolean };
}

/** Conditions of one store write (see `Transition.expect`). */
export interface WriteCondition {
  state?: TargetState;
  ver?: number;
}

export type WriteResult = { ok: true; ver: number } | { ok: false; current: SharedHealth | undefined };

/** What travels on `<keyPrefix>health:events`. */
export type FleetMessage =
  | { type: 'state'; key: string; from: string; rec: SharedHealth }
  | { type: 'probe'; key: string; from: string; probe: ProbeRecord };

/** One instance's local view, refreshed by its heartbeat (expires when it dies). */
export interface InstanceView {
  id: string;
  at: number;
  connected: boolean;
  targets: Record<string, TargetState>;
}

/** The fleet-wide shadow budget of one probation. */
export interface ShadowLimits {
  /** Shadow calls in flight across the fleet (the route's `shadow.maxConcurrent`). */
  max: number;
  /** Good results still needed plus calls in flight may not exceed this (`shadow.promoteAfter`). */
  budget: number;
  /** A slot of an instance that died frees itself after this long. */
  ttlMs: number;
}

/** A shadow slot: one of the fleet's (to settle in Redis), or local because Redis did not answer. */
export type ShadowSlot = { fleet: true; id: string; phase: number } | { fleet: false };

/** Where shared health lives: Redis in production, an in-memory fake in unit tests. */
export interface FleetStore {
  readonly instanceId: string;
  /** Writes a transition when the condition holds, bumping the version and publishing it in one step. */
  write(key: string, rec: Omit<SharedHealth, 'ver'>, cond: WriteCondition): Promise<WriteResult>;
  /** Shares a probe result (no version bump: not a state change). */
  noteProbe(key: string, probe: ProbeRecord): Promise<void>;
  /** Shared records of `keys` (absent: never written), each with the good count of its probation. */
  read(keys: readonly string[]): Promise<Map<string, SharedHealth & { good: number }>>;
  /** Takes or renews the probe lease of `key`: true while this instance holds it. */
  lease(key: string, ms: number): Promise<boolean>;
  /** Takes one of the probation's shadow slots, or false when the fleet's budget is spent. */
  takeSlot(key: string, phase: number, slot: string, limits: ShadowLimits): Promise<boolean>;
  /** Frees a slot (`slot` may be empty), counting a good result when `good`; returns the probation's good count. */
  settleSlot(key: string, phase: number, slot: string, good: boolean): Promise<number>;
  /** Publishes this instance's local view (expires after `ttlMs`). */
  beat(view: InstanceView, ttlMs: number): Promise<void>;
  /** The local views of the instances alive. */
  instances(): Promise<InstanceView[]>;
  /** Starts listening; `ready` on every (re)subscribe, `lost` when the subscription drops. */
  listen(on: { message(m: FleetMessage): void; ready(): void; lost(): void }): void;
  close(): Promise<void>;
}

/** The gate's face towards the fleet layer. */
export interface FleetGate {
  targets(): Array<{ key: string; state: TargetState; promoteAfter: number }>;
  /** Makes the local state the shared one (without writing back); true when it changed. */
  apply(key: string, rec: SharedHealth): boolean;
  /** Another instance's probe result, for the local view. */
  probed(key: string, probe: ProbeRecord): void;
}

/** What GET /admin/targets shows of the fleet for one target. Times are ISO 8601. */
export interface FleetTargetView {
  state: TargetState;
  version: number;
  event: FleetEventType | null;
  changedBy: string | null;
  changedAt: string | null;
  since: string | null;
  why: string | null;
  lastError: (Omit<HealthError, 'at'> & { at: string }) | null;
  drain: { at: string; by: string | null; reason: string | null } | null;
  probation: { good: number; promoteAfter: number } | null;
  /** Each live instance's local state of this target (from their heartbeats). */
  instances: Array<{ instance: string; state: TargetState; at: string }>;
}

/** The fleet layer as a whole, for GET /admin/targets. */
export interface FleetStatus {
  instance: string;
  /** Redis answered the last fleet call (false: this instance decides alone). */
  connected: boolean;
  /** The events channel listens. */
  subscribed: boolean;
  lastReconcileAt: string | null;
}

/** The fleet layer's face towards one gate. */
export interface FleetLink {
  /** A local transition: written and published in the background (never awaited by a request). */
  changed(key: string, t: Transition): void;
  /** Whether this instance runs the next probe of `key` (holds the lease); true when Redis is away. */
  probeTurn(key: string, leaseMs: number): Promise<boolean>;
  /** A probe of this instance failed: share it. */
  probed(key: string, probe: ProbeRecord): void;
  /** A fleet shadow slot, a local one when Redis is away, or undefined when the budget is spent. */
  shadowSlot(key: string, limits: ShadowLimits): Promise<ShadowSlot | undefined>;
  /** Frees a slot (undefined: a live call in probation), counting it when good; the fleet's good count, or undefined: count locally. */
  settle(key: string, slot: ShadowSlot | undefined, good: boolean): Promise<number | undefined>;
  view(key: string, promoteAfter: number): FleetTargetView;
  status(): FleetStatus;
  /** Waits for writes in flight, then reads the shared state (and heals what differs). */
  refresh(): Promise<void>;
  /** The gate closed; a newer gate may be attached already. */
  detach(): void;
}

/** One per process: outlives config reloads (each new gate attaches, the old one detaches). */
export interface FleetHealth {
  attach(gate: FleetGate): FleetLink;
  close(): Promise<void>;
}
