import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { FleetMetrics } from './fleet-metrics.js';
import { STATE_AFTER, type FleetGate, type FleetHealth, type FleetLink, type FleetMessage, type FleetStore, type InstanceView, type SharedHealth, type Transition, type WriteCondition } from './fleet-types.js';
import { fleetTargetView } from './fleet-view.js';
import type { TargetState } from './target-health.js';

export interface FleetHealthDeps {
  logger: Logger;
  metrics?: FleetMetrics;
  /** Shown as `by` / `changedBy`; default `<hostname>-<pid>-<random>`. */
  instanceId?: string;
  now?: () => number;
  /** How often the shared state is read back so a missed message is no lasting split (default 5 s). */
  reconcileMs?: number;
}

/** The fleet layer with the controls its owner needs beyond what a gate sees. */
export interface FleetHealthControl extends FleetHealth {
  readonly instanceId: string;
  /** Starts sharing through `store` (once the state backend is open); before that, decisions stay local and are written then. */
  connect(store: FleetStore): void;
  /** Flushes decisions not yet written and reads the shared state now (the timer does it every reconcileMs). */
  reconcile(): Promise<void>;
}

export const defaultInstanceId = (): string => `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;

const EVENT_FOR: Readonly<Record<TargetState, Transition['event']>> = { healthy: 'restore', open: 'open', probation: 'probation', drained: 'drain' };
const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

type Attempt<T> = { ok: true; value: T } | { ok: false };
interface Pending {
  t: Transition;
  cond: WriteCondition;
  /** A write the fleet layer made on its own (not a gate's decision): the gate applies it too. */
  applyLocally?: boolean;
}

/**
 * Shares target health between router instances. Local decisions are applied by the gate at
 * once (requests never wait on Redis) and written here in the background, each conditional on
 * the shared state it was made from: when two instances decide at once one write lands, the
 * other finds the shared state moved on and takes it. News from other instances arrives on the
 * events channel; a version per target makes stale news harmless; a reconcile every
 * `reconcileMs` (and on every (re)subscribe, and when Redis comes back) reads the shared state
 * so a missed message or a decision made while Redis was away does not split the fleet for long.
 */
export function createFleetHealth(deps: FleetHealthDeps): FleetHealthControl {
  const log = deps.logger.child({ component: 'fleet-health' });
  const m = deps.metrics;
  const now = deps.now ?? Date.now;
  const reconcileMs = deps.reconcileMs ?? 5_000;
  const id = deps.instanceId ?? defaultInstanceId();
  let store: FleetStore | undefined;
  let gate: FleetGate | undefined;
  let closed = false;
  let connected: boolean | undefined;
  let subscribed = false;
  let lastReconcileAt: number | undefined;
  let reconciling: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let beatTimer: NodeJS.Timeout | undefined;
  let slotSeq = 0;
  /** The newest shared record seen per target (absent: never written, healthy at version 0). */
  const known = new Map<string, SharedHealth>();
  const goods = new Map<string, number>();
  /** Decisions Redis did not take (down): written at the next reconcile. */
  const unsent = new Map<string, Pending>();
  /** Writes in flight, one chain per target, so they land in the order they were decided. */
  const writes = new Map<string, Promise<void>>();
  let instances: InstanceView[] = [];

  function down(err: unknown): void {
    m?.redisErrors.inc();
    if (connected === false) return;
    connected = false;
    m?.connected.set(0);
    log.warn({ err: (err as Error).message }, 'fleet health: Redis unreachable; this instance decides target health on its own until it is back');
  }

  function up(): void {
    if (connected === true) return;
    const was = connected;
    connected = true;
    m?.connected.set(1);
    if (was === false) {
      log.info('fleet health: Redis reachable again; reconciling with the shared state');
      void reconcile();
    }
  }

  async function attempt<T>(fn: (s: FleetStore) => Promise<T>): Promise<Attempt<T>> {
    const s = store;
    if (!s || closed) return { ok: false };
    try {
      const value = await fn(s);
      up();
      return { ok: true, value };
    } catch (err) {
      down(err);
      return { ok: false };
    }
  }

  function enqueue(key: string, p: Pending | (() => Pending)): Promise<void> {
    const next = (writes.get(key) ?? Promise.resolve())
      .then(() => write(key, typeof p === 'function' ? p() : p))
      // Never a broken chain: the target's next decisions must still go out.
      .catch((err: unknown) => log.error({ target: key, err: (err as Error).message }, 'fleet health: sharing a decision failed'));
    writes.set(key, next);
    void next.finally(() => writes.get(key) === next && writes.delete(key));
    return next;
  }

  async function write(key: string, p: Pending): Promise<void> {
    const { t } = p;
    const rec: Omit<SharedHealth, 'ver'> = {
      state: STATE_AFTER[t.event],
      event: t.event,
      since: t.since,
      by: id,
      at: now(),
      why: t.why,
      ...(t.lastError ? { lastError: t.lastError } : {}),
      ...(t.drain ? { drain: t.drain } : {}),
      ...(t.lastProbe ? { lastProbe: t.lastProbe } : {}),
    };
    const r = await attempt((s) => s.write(key, rec, p.cond));
    if (!r.ok) return keepUnsent(key, p);
    if (unsent.get(key) === p) unsent.delete(key);
    if (!r.value.ok) {
      m?.conflicts.inc();
      log.info({ target: key, event: t.event, shared: r.value.current?.state ?? 'healthy', by: r.value.current?.by }, 'fleet health: decision not written, the shared state had moved on; taking the shared state');
      adopt(key, r.value.current ?? { ver: 0, state: 'healthy', since: now() }, 'conflict');
      return;
    }
    m?.events.inc({ type: t.event, direction: 'published' });
    const shared = { ...rec, ver: r.value.ver };
    if (shared.ver > (known.get(key)?.ver ?? 0)) known.set(key, shared);
    goods.delete(key);
    if (p.applyLocally) gate?.apply(key, shared);
    scheduleBeat();
  }

  /** Keeps the newest decision, but the condition of the first: that is what Redis last held as far as we know. */
  function keepUnsent(key: string, p: Pending): void {
    if (closed) return;
    const prev = unsent.get(key);
    unsent.set(key, prev && p.t.expect ? { ...p, cond: prev.cond } : p);
  }

  /** Takes a shared record as the truth here; true when the local state changed. */
  function adopt(key: string, rec: SharedHealth, via: 'event' | 'conflict' | 'reconcile'): boolean {
    const cur = known.get(key);
    if (via === 'event' && cur && rec.ver <= cur.ver) {
      log.debug({ target: key, ver: rec.ver, known: cur.ver }, 'fleet health: stale news ignored');
      return false;
    }
    known.set(key, rec);
    // The fleet moved on: a decision of ours made before and not written yet is obsolete.
    unsent.delete(key);
    goods.delete(key);
    const changed = gate?.apply(key, rec) ?? false;
    if (changed) scheduleBeat();
    return changed;
  }

  function onMessage(msg: FleetMessage): void {
    if (closed || msg.from === id) return;
    if (msg.type === 'probe') {
      m?.events.inc({ type: 'probe', direction: 'received' });
      gate?.probed(msg.key, msg.probe);
      return;
    }
    m?.events.inc({ type: msg.rec.event ?? msg.rec.state, direction: 'received' });
    adopt(msg.key, msg.rec, 'event');
  }

  function reconcile(): Promise<void> {
    if (reconciling) {
      again = true;
      return reconciling;
    }
    reconciling = (async () => {
      do {
        again = false;
        await reconcileOnce();
      } while (again && !closed);
    })().finally(() => (reconciling = undefined));
    return reconciling;
  }

  async function reconcileOnce(): Promise<void> {
    if (!store || closed) return;
    for (const [key, p] of [...unsent]) await enqueue(key, p);
    const keys = gate?.targets().map((t) => t.key) ?? [];
    // News that arrives while the read is out is newer than what the read returns.
    const before = new Map(keys.map((key) => [key, known.get(key)?.ver ?? 0]));
    const r = await attempt((s) => s.read(keys));
    const g = gate;
    if (!r.ok || closed || !g) return;
    lastReconcileAt = now();
    for (const t of g.targets()) {
      // A decision of ours on its way (or waiting for Redis) is newer than what was read too.
      if (before.get(t.key) !== (known.get(t.key)?.ver ?? 0) || writes.has(t.key) || unsent.has(t.key)) continue;
      const read = r.value.get(t.key);
      if (!read) {
        // Never written, or the store lost it (restarted empty): versions start over, and a
        // local state other than healthy becomes the fleet's.
        known.delete(t.key);
        if (t.state !== 'healthy') void enqueue(t.key, { t: { event: EVENT_FOR[t.state], since: now(), why: `shared state was missing; taken from ${id}` }, cond: { state: 'healthy' } });
        continue;
      }
      const { good, ...rec } = read;
      if (rec.ver !== known.get(t.key)?.ver || rec.state !== t.state) {
        if (adopt(t.key, rec, 'reconcile')) {
          m?.reconcileFixes.inc();
          log.info({ target: t.key, from: t.state, to: rec.state, ver: rec.ver, by: rec.by }, 'fleet health: reconcile corrected the local state (news was missed)');
        }
      }
      if (rec.state === 'probation') goods.set(t.key, good);
      // The instance whose credit reached promoteAfter died before writing the promotion:
      // promote now (conditional on this probation, so it happens once).
      if (rec.state === 'probation' && good >= t.promoteAfter) {
        void enqueue(t.key, { t: { event: 'promote', since: now(), why: `${good} good calls in probation across the fleet` }, cond: { state: 'probation', ver: rec.ver }, applyLocally: true });
      }
    }
    await beat();
  }

  async function beat(): Promise<void> {
    const g = gate;
    if (!g || !store) return;
    const view: InstanceView = { id, at: now(), connected: connected === true, targets: Object.fromEntries(g.targets().map((t) => [t.key, t.state])) };
    await attempt((s) => s.beat(view, reconcileMs * 3));
    const list = await attempt((s) => s.instances());
    if (list.ok) instances = list.value;
  }

  function scheduleBeat(): void {
    if (beatTimer || !store || closed) return;
    beatTimer = setTimeout(() => {
      beatTimer = undefined;
      void beat();
    }, 100);
    beatTimer.unref?.();
  }

  const view = (key: string, promoteAfter: number) =>
    fleetTargetView({ key, rec: known.get(key), good: goods.get(key), promoteAfter, self: { id, state: gate?.targets().find((t) => t.key === key)?.state, at: now() }, instances });

  return {
    instanceId: id,

    connect(s) {
      if (closed || store) return;
      store = s;
      s.listen({
        message: onMessage,
        ready: () => {
          if (!subscribed) log.info({ instance: id }, 'fleet health: listening for target health news');
          subscribed = true;
          // Messages may have been missed while the subscription was down.
          void reconcile();
        },
        lost: () => {
          if (subscribed) log.debug('fleet health: events subscription lost; resubscribing when Redis is back');
          subscribed = false;
        },
      });
      timer = setInterval(() => void reconcile(), reconcileMs);
      timer.unref?.();
    },

    reconcile,

    attach(g) {
      gate = g;
      // The new gate carries the old one's states; reading the shared state aligns what differs.
      if (store) setTimeout(() => void reconcile(), 0).unref?.();
      const link: FleetLink = {
        changed(key, t) {
          if (closed) return;
          // A condition on the version is taken when the decision is made, unless a write of
          // ours for this target is still in flight: then it is the version that write makes.
          const ownFirst = writes.has(key);
          const captured = known.get(key)?.ver ?? 0;
          void enqueue(key, () => ({
            t,
            cond: t.expect ? { state: t.expect.state, ...(t.expect.phase ? { ver: ownFirst ? (known.get(key)?.ver ?? 0) : captured } : {}) } : {},
          }));
          scheduleBeat();
        },

        async probeTurn(key, leaseMs) {
          const r = await attempt((s) => s.lease(key, leaseMs));
          return r.ok ? r.value : true;
        },

        probed(key, probe) {
          void attempt((s) => s.noteProbe(key, probe)).then((r) => r.ok && m?.events.inc({ type: 'probe', direction: 'published' }));
        },

        async shadowSlot(key, limits) {
          // Our own probation write first: the slot belongs to the version it makes.
          await writes.get(key);
          const rec = known.get(key);
          if (!store || connected === false || rec?.state !== 'probation') return { fleet: false };
          const slot = `${id}:${++slotSeq}`;
          const r = await attempt((s) => s.takeSlot(key, rec.ver, slot, limits));
          if (!r.ok) return { fleet: false };
          return r.value ? { fleet: true, id: slot, phase: rec.ver } : undefined;
        },

        async settle(key, slot, good) {
          if (slot && !slot.fleet) return undefined;
          let phase = slot?.phase;
          if (phase === undefined) {
            await writes.get(key);
            const rec = known.get(key);
            if (rec?.state !== 'probation') return undefined;
            phase = rec.ver;
          }
          const at = phase;
          const r = await attempt((s) => s.settleSlot(key, at, slot?.id ?? '', good));
          if (!r.ok || !good) return undefined;
          if (known.get(key)?.ver === at) goods.set(key, r.value);
          return r.value;
        },

        view,
        status: () => ({ instance: id, connected: connected === true, subscribed, lastReconcileAt: iso(lastReconcileAt) }),

        async refresh() {
          await Promise.all([...writes.values()]);
          await reconcile();
        },

        detach() {
          if (gate === g) gate = undefined;
        },
      };
      return link;
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      clearTimeout(beatTimer);
      gate = undefined;
      await store?.close().catch(() => {});
    },
  };
}
