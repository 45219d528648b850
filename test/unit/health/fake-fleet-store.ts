import type { FleetMessage, FleetStore, InstanceView, SharedHealth } from '../../../src/health/fleet-types.js';
import { StateUnavailableError } from '../../../src/state/types.js';

type Listener = Parameters<FleetStore['listen']>[0];

/**
 * An in-memory stand-in for the Redis the instances of a fleet share, with the semantics of
 * the fleet's Lua scripts (conditional writes that bump a version and publish, the probe lease,
 * shadow slots with expiry, good counts), and knobs for what goes wrong: Redis down, messages
 * lost, a subscriber reconnecting.
 */
export class FakeFleetHub {
  readonly records = new Map<string, SharedHealth>();
  readonly leases = new Map<string, { holder: string; until: number }>();
  readonly slots = new Map<string, Map<string, number>>();
  readonly goods = new Map<string, number>();
  readonly views = new Map<string, { view: InstanceView; until: number }>();
  readonly listeners = new Map<string, Listener>();
  /** Every message published, delivered or not. */
  readonly published: FleetMessage[] = [];
  /** Every call fails as Redis being unreachable. */
  down = false;
  /** Publishes reach nobody (what a subscriber misses while reconnecting). */
  dropMessages = false;

  constructor(readonly now: () => number = Date.now) {}

  store(instanceId: string): FleetStore {
    return new FakeFleetStore(this, instanceId);
  }

  /** A subscriber of `instanceId` reconnected: it is told so (and reconciles). */
  resubscribe(instanceId: string): void {
    const l = this.listeners.get(instanceId);
    if (!l) return;
    l.lost();
    queueMicrotask(() => l.ready());
  }

  /** Delivers `msg` to one instance only (e.g. stale news arriving late). */
  deliverTo(instanceId: string, msg: FleetMessage): void {
    const l = this.listeners.get(instanceId);
    if (l) queueMicrotask(() => l.message(structuredClone(msg)));
  }

  publish(msg: FleetMessage): void {
    this.published.push(msg);
    if (this.dropMessages) return;
    for (const l of this.listeners.values()) queueMicrotask(() => l.message(structuredClone(msg)));
  }

  /** Published state messages of one event type (e.g. how many promotions happened). */
  count(event: string): number {
    return this.published.filter((m) => m.type === 'state' && m.rec.event === event).length;
  }
}

class FakeFleetStore implements FleetStore {
  constructor(
    private readonly hub: FakeFleetHub,
    readonly instanceId: string,
  ) {}

  /** Like a Redis call: asynchronous, and failing while the hub is down. */
  private async op<T>(fn: () => T): Promise<T> {
    await Promise.resolve();
    if (this.hub.down) throw new StateUnavailableError('fake Redis: not connected');
    return fn();
  }

  write(key: string, rec: Omit<SharedHealth, 'ver'>, cond: { state?: string; ver?: number }) {
    return this.op(() => {
      const cur = this.hub.records.get(key);
      const ver = cur?.ver ?? 0;
      if ((cond.state !== undefined && cond.state !== (cur?.state ?? 'healthy')) || (cond.ver !== undefined && cond.ver !== ver)) {
        return { ok: false as const, current: cur && structuredClone(cur) };
      }
      const next: SharedHealth = { ...structuredClone(rec), ver: ver + 1 };
      this.hub.records.set(key, next);
      this.hub.publish({ type: 'state', key, from: this.instanceId, rec: structuredClone(next) });
      return { ok: true as const, ver: next.ver };
    });
  }

  noteProbe(key: string, probe: NonNullable<SharedHealth['lastProbe']>) {
    return this.op(() => {
      const cur = this.hub.records.get(key);
      if (cur) cur.lastProbe = probe;
      this.hub.publish({ type: 'probe', key, from: this.instanceId, probe });
    });
  }

  read(keys: readonly string[]) {
    return this.op(() => {
      const out = new Map<string, SharedHealth & { good: number }>();
      for (const key of keys) {
        const rec = this.hub.records.get(key);
        if (rec) out.set(key, { ...structuredClone(rec), good: rec.state === 'probation' ? (this.hub.goods.get(`${key}:${rec.ver}`) ?? 0) : 0 });
      }
      return out;
    });
  }

  lease(key: string, ms: number) {
    return this.op(() => {
      const l = this.hub.leases.get(key);
      const now = this.hub.now();
      if (!l || l.until <= now || l.holder === this.instanceId) {
        this.hub.leases.set(key, { holder: this.instanceId, until: now + ms });
        return true;
      }
      return false;
    });
  }

  takeSlot(key: string, phase: number, slot: string, limits: { max: number; budget: number; ttlMs: number }) {
    return this.op(() => {
      const k = `${key}:${phase}`;
      const now = this.hub.now();
      const slots = this.hub.slots.get(k) ?? new Map<string, number>();
      this.hub.slots.set(k, slots);
      for (const [id, until] of slots) if (until <= now) slots.delete(id);
      if (slots.size >= limits.max || slots.size + (this.hub.goods.get(k) ?? 0) >= limits.budget) return false;
      slots.set(slot, now + limits.ttlMs);
      return true;
    });
  }

  settleSlot(key: string, phase: number, slot: string, good: boolean) {
    return this.op(() => {
      const k = `${key}:${phase}`;
      if (slot) this.hub.slots.get(k)?.delete(slot);
      const n = (this.hub.goods.get(k) ?? 0) + (good ? 1 : 0);
      this.hub.goods.set(k, n);
      return n;
    });
  }

  beat(view: InstanceView, ttlMs: number) {
    return this.op(() => void this.hub.views.set(view.id, { view: structuredClone(view), until: view.at + ttlMs }));
  }

  instances() {
    return this.op(() => [...this.hub.views.values()].filter((v) => v.until > this.hub.now()).map((v) => structuredClone(v.view)));
  }

  listen(on: Listener): void {
    this.hub.listeners.set(this.instanceId, on);
    queueMicrotask(() => on.ready());
  }

  async close(): Promise<void> {
    this.hub.listeners.delete(this.instanceId);
  }
}
