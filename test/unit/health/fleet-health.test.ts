import express from 'express';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAdminRouter } from '../../../src/health/admin-router.js';
import { createFleetHealth, type FleetHealthControl } from '../../../src/health/fleet-health.js';
import { createFleetMetrics } from '../../../src/health/fleet-metrics.js';
import type { FleetMessage } from '../../../src/health/fleet-types.js';
import type { HealthGate } from '../../../src/health/health-gate.js';
import { chatRequest } from '../../fixtures/requests.js';
import { FakeFleetHub } from './fake-fleet-store.js';
import { A, B, ROUTE, fail, flush, metricValue, setup } from './helpers.js';

const RECONCILE_MS = 2_000;
const { openMs } = ROUTE.breaker;
const { intervalMs, timeoutMs: probeTimeoutMs } = ROUTE.healthCheck;
const LEASE_MS = 2 * intervalMs + probeTimeoutMs;

interface Instance extends ReturnType<typeof setup> {
  id: string;
  fleet: FleetHealthControl;
  fleetRegistry: Registry;
  lines: Array<{ level: number; msg: string }>;
}

const instances: Instance[] = [];

/** One instance of the fleet: its own providers, gate, fleet layer and log, on the shared hub. */
function instance(hub: FakeFleetHub, id: string, opts: { route?: Record<string, unknown>; connect?: boolean } = {}): Instance {
  const lines: Instance['lines'] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Instance['lines'][number]) });
  const fleetRegistry = new Registry();
  const fleet = createFleetHealth({ logger, metrics: createFleetMetrics(fleetRegistry), instanceId: id, reconcileMs: RECONCILE_MS });
  const env = setup({ fleet, logger, ...(opts.route ? { route: opts.route } : {}) });
  if (opts.connect !== false) fleet.connect(hub.store(id));
  const it = { ...env, id, fleet, fleetRegistry, lines };
  instances.push(it);
  return it;
}

function fleetOf(n: number, opts: { route?: Record<string, unknown> } = {}) {
  const hub = new FakeFleetHub();
  return { hub, all: Array.from({ length: n }, (_, i) => instance(hub, `i${i + 1}`, opts)) };
}

/** Lets background writes, deliveries and zero-delay timers run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 6; i++) {
    await flush();
    await vi.advanceTimersByTimeAsync(0);
  }
}

async function trip(gate: HealthGate): Promise<void> {
  for (let i = 0; i < 4; i++) gate.record('chat', A, fail('server'));
  await settle();
}

const stateOf = (i: Instance) => i.gate.target('a', 'm')?.state;
const states = (all: Instance[]) => all.map(stateOf);
const fleetMetric = (i: Instance, name: string, labels: Record<string, string> = {}) => metricValue(i.fleetRegistry, `llm_router_${name}`, labels);
const logged = (i: Instance, text: string) => i.lines.filter((l) => l.msg.includes(text)).length;

/** Trips A on the first instance and lets the lease holder's probe pass: the fleet is on probation. */
async function toProbation(all: Instance[]): Promise<number> {
  await trip(all[0]!.gate);
  await vi.advanceTimersByTimeAsync(openMs);
  await settle();
  expect(states(all)).toEqual(all.map(() => 'probation'));
  return all[0]!.gate.target('a', 'm')!.fleet!.version;
}

describe('fleet health', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2025-01-01T00:00:00Z'), toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(async () => {
    for (const i of instances.splice(0)) {
      i.gate.close();
      await i.fleet.close();
    }
    vi.useRealTimers();
  });

  describe('breaker news', () => {
    it('a breaker opening on one instance opens the target on all, each keeping its own window', async () => {
      const { all } = fleetOf(3);
      const [i1, i2, i3] = all as [Instance, Instance, Instance];
      await trip(i1.gate);

      expect(states(all)).toEqual(['open', 'open', 'open']);
      expect(i2.gate.admits('chat', A)).toBe(false);
      expect(i2.gate.admits('chat', B)).toBe(true);
      const view = i3.gate.target('a', 'm')!;
      expect(view.lastError).toMatchObject({ source: 'live', kind: 'server' });
      expect(view.fleet).toMatchObject({ state: 'open', version: 1, event: 'open', changedBy: 'i1', why: 'breaker opened' });
      // Each instance records its own failures: i3 saw none.
      expect(view.breaker.failures).toBe(0);
      expect(i1.gate.target('a', 'm')!.breaker.failures).toBe(4);
      // The others run the probe schedule of an open target.
      expect(view.probes.next).toBe(new Date(Date.now() + openMs).toISOString());
      expect(await fleetMetric(i1, 'fleet_health_events_total', { type: 'open', direction: 'published' })).toBe(1);
      expect(await fleetMetric(i2, 'fleet_health_events_total', { type: 'open', direction: 'received' })).toBe(1);
      expect(await fleetMetric(i2, 'fleet_health_events_total', { type: 'open', direction: 'published' })).toBe(0);
    });

    it('never lets stale news overwrite newer', async () => {
      const { hub, all } = fleetOf(2);
      const [i1, i2] = all as [Instance, Instance];
      await trip(i1.gate);
      const opened = hub.published.find((m) => m.type === 'state' && m.rec.event === 'open')!;
      i1.gate.restore('a', 'm');
      await settle();
      expect(states(all)).toEqual(['healthy', 'healthy']);
      expect(i2.gate.target('a', 'm')!.fleet).toMatchObject({ version: 2, event: 'restore' });

      hub.deliverTo('i2', opened);
      await settle();
      expect(stateOf(i2)).toBe('healthy');
      expect(i2.gate.admits('chat', A)).toBe(true);
    });

    it('a remote restore closes the target everywhere with a clean breaker window', async () => {
      const { all } = fleetOf(2);
      const [i1, i2] = all as [Instance, Instance];
      i2.gate.record('chat', A, fail('server'));
      await trip(i1.gate);
      i1.gate.restore('a', 'm');
      await settle();
      expect(states(all)).toEqual(['healthy', 'healthy']);
      expect(i2.gate.target('a', 'm')!.breaker.calls).toBe(0);
    });
  });

  describe('operator actions', () => {
    it('drain, release and restore on any instance apply to all', async () => {
      const { all } = fleetOf(3);
      const [i1, i2, i3] = all as [Instance, Instance, Instance];
      for (const i of all) i.a.healthy = false;

      i1.gate.drain('a', 'm', { by: 'ops-key', reason: 'provider incident #42' });
      await settle();
      expect(states(all)).toEqual(['drained', 'drained', 'drained']);
      expect(i3.gate.target('a', 'm')!.drain).toMatchObject({ by: 'ops-key', reason: 'provider incident #42' });
      expect(i3.gate.target('a', 'm')!.fleet).toMatchObject({ changedBy: 'i1', drain: { by: 'ops-key', reason: 'provider incident #42' } });
      await vi.advanceTimersByTimeAsync(openMs * 3);
      expect(all.map((i) => i.a.probes)).toEqual([0, 0, 0]);

      expect(i3.gate.release('a', 'm').ok).toBe(true);
      await settle();
      expect(states(all)).toEqual(['open', 'open', 'open']);

      i2.gate.restore('a', 'm');
      await settle();
      expect(states(all)).toEqual(['healthy', 'healthy', 'healthy']);
      expect(i1.gate.target('a', 'm')!.fleet).toMatchObject({ changedBy: 'i2', event: 'restore', version: 3 });
    });
  });

  describe('active probes', () => {
    it('one instance probes (the lease holder) and shares the result; another takes over when it dies', async () => {
      const { all } = fleetOf(3);
      for (const i of all) i.a.healthy = false;
      await trip(all[0]!.gate);

      await vi.advanceTimersByTimeAsync(openMs);
      await settle();
      expect(all.reduce((n, i) => n + i.a.probes, 0)).toBe(1);
      const holder = all.find((i) => i.a.probes === 1)!;
      const others = all.filter((i) => i !== holder);

      await vi.advanceTimersByTimeAsync(intervalMs * 3);
      await settle();
      expect(holder.a.probes).toBe(4);
      expect(others.map((i) => i.a.probes)).toEqual([0, 0]);
      // The holder's failed probes reach the others' views.
      for (const i of others) expect(i.gate.target('a', 'm')!.probes.last).toMatchObject({ outcome: 'fail' });
      expect(states(all)).toEqual(['open', 'open', 'open']);

      // The holder dies: its lease runs out and one of the others takes the probes over.
      holder.gate.close();
      await holder.fleet.close();
      await vi.advanceTimersByTimeAsync(LEASE_MS + intervalMs * 2);
      await settle();
      const probing = others.filter((i) => i.a.probes > 0);
      expect(probing).toHaveLength(1);

      for (const i of others) i.a.healthy = true;
      await vi.advanceTimersByTimeAsync(intervalMs);
      await settle();
      expect(others.map(stateOf)).toEqual(['probation', 'probation']);
      expect(others[0]!.gate.target('a', 'm')!.fleet).toMatchObject({ state: 'probation', changedBy: probing[0]!.id });
    });
  });

  describe('probation', () => {
    const route = { shadow: { sampleRate: 1, promoteAfter: 3, maxConcurrent: 2, timeoutMs: 1_000 } };

    it('runs on the fleet’s shadow budget and promotes once, for all', async () => {
      const { hub, all } = fleetOf(3, { route });
      await toProbation(all);

      for (let round = 0; round < 6 && !states(all).every((s) => s === 'healthy'); round++) {
        for (const i of all) i.gate.served('chat', chatRequest(), B);
        await settle();
      }
      expect(states(all)).toEqual(['healthy', 'healthy', 'healthy']);
      // Three instances mirroring every request, yet promoteAfter shadow calls in all.
      expect(all.reduce((n, i) => n + i.a.calls.length, 0)).toBe(3);
      expect(hub.count('promote')).toBe(1);
      expect(all.reduce((n, i) => n + i.gate.target('a', 'm')!.shadow.skipped, 0)).toBeGreaterThan(0);
      const promoter = all.find((i) => i.gate.target('a', 'm')!.fleet!.changedBy === i.id)!;
      expect(promoter.gate.target('a', 'm')!.fleet).toMatchObject({ event: 'promote', why: '3 good calls in probation across the fleet' });
    });

    it('sends the target back to open for all when a shadow call fails anywhere', async () => {
      const { hub, all } = fleetOf(3, { route });
      const [, i2] = all as [Instance, Instance, Instance];
      await toProbation(all);
      i2.a.script({ fail: 'server' });
      i2.gate.served('chat', chatRequest(), B);
      await settle();
      expect(states(all)).toEqual(['open', 'open', 'open']);
      expect(hub.count('open')).toBe(2);
      expect(all[0]!.gate.target('a', 'm')!.lastError).toMatchObject({ source: 'shadow', kind: 'server' });
    });

    it('finishes a promotion whose promoter died between its count and its write', async () => {
      const { hub, all } = fleetOf(3, { route });
      const phase = await toProbation(all);
      hub.goods.set(`a/m:${phase}`, 3);
      await vi.advanceTimersByTimeAsync(RECONCILE_MS);
      await settle();
      expect(states(all)).toEqual(['healthy', 'healthy', 'healthy']);
      expect(hub.count('promote')).toBe(1);
    });
  });

  describe('missed news', () => {
    it('the periodic reconcile heals a lost message, and counts the fix', async () => {
      const { hub, all } = fleetOf(3);
      const [i1, i2] = all as [Instance, Instance, Instance];
      for (const i of all) i.a.healthy = false;
      hub.dropMessages = true;
      await trip(i1.gate);
      expect(states(all)).toEqual(['open', 'healthy', 'healthy']);

      await vi.advanceTimersByTimeAsync(RECONCILE_MS);
      await settle();
      expect(states(all)).toEqual(['open', 'open', 'open']);
      expect(await fleetMetric(i2, 'fleet_reconcile_fixes_total')).toBe(1);
      expect(await fleetMetric(i1, 'fleet_reconcile_fixes_total')).toBe(0);
      expect(logged(i2, 'reconcile corrected the local state')).toBe(1);
    });

    it('a resubscribe reconciles at once', async () => {
      const { hub, all } = fleetOf(2);
      hub.dropMessages = true;
      await trip(all[0]!.gate);
      hub.dropMessages = false;
      hub.resubscribe('i2');
      await settle();
      expect(states(all)).toEqual(['open', 'open']);
    });

    it('two decisions at once: one write lands, the other instance takes the shared state', async () => {
      const { hub, all } = fleetOf(2);
      const [i1, i2] = all as [Instance, Instance];
      hub.dropMessages = true;
      i1.gate.drain('a', 'm', { reason: 'maintenance' });
      await settle();
      await trip(i2.gate);
      expect(states(all)).toEqual(['drained', 'drained']);
      expect(hub.count('open')).toBe(0);
      expect(await fleetMetric(i2, 'fleet_write_conflicts_total')).toBe(1);
    });
  });

  describe('Redis unreachable', () => {
    it('each instance decides alone, logs once, counts errors, and shares its decision once Redis is back', async () => {
      const { hub, all } = fleetOf(2);
      const [i1, i2] = all as [Instance, Instance];
      for (const i of all) i.a.healthy = false;
      hub.down = true;
      await trip(i1.gate);
      // Nothing waits on Redis: the local decision holds at once.
      expect(i1.gate.admits('chat', A)).toBe(false);
      expect(states(all)).toEqual(['open', 'healthy']);

      // The probe lease cannot be had: i1 probes on its own.
      await vi.advanceTimersByTimeAsync(openMs);
      await settle();
      expect(i1.a.probes).toBe(1);
      await vi.advanceTimersByTimeAsync(RECONCILE_MS);
      await settle();
      expect(await fleetMetric(i1, 'fleet_redis_errors_total')).toBeGreaterThanOrEqual(3);
      expect(logged(i1, 'Redis unreachable')).toBe(1);
      expect(await fleetMetric(i1, 'fleet_connected')).toBe(0);
      expect(i1.gate.fleet()).toMatchObject({ instance: 'i1', connected: false });

      hub.down = false;
      await vi.advanceTimersByTimeAsync(RECONCILE_MS);
      await settle();
      expect(states(all)).toEqual(['open', 'open']);
      expect(i2.gate.target('a', 'm')!.fleet).toMatchObject({ changedBy: 'i1', event: 'open' });
      expect(logged(i1, 'Redis reachable again')).toBe(1);
      expect(await fleetMetric(i1, 'fleet_connected')).toBe(1);
    });

    it('counts shadow calls locally while Redis is away', async () => {
      const { hub, all } = fleetOf(1, { route: { shadow: { sampleRate: 1, promoteAfter: 2, maxConcurrent: 2, timeoutMs: 1_000 } } });
      const [i1] = all as [Instance];
      await trip(i1.gate);
      await vi.advanceTimersByTimeAsync(openMs);
      await settle();
      expect(stateOf(i1)).toBe('probation');
      hub.down = true;
      i1.gate.served('chat', chatRequest(), B);
      await settle();
      i1.gate.served('chat', chatRequest(), B);
      await settle();
      expect(stateOf(i1)).toBe('healthy');
      hub.down = false;
      await vi.advanceTimersByTimeAsync(RECONCILE_MS);
      await settle();
      expect(hub.records.get('a/m')).toMatchObject({ state: 'healthy', event: 'promote', by: 'i1' });
    });

    it('decisions made before the store is connected are written once it is', async () => {
      const hub = new FakeFleetHub();
      const i1 = instance(hub, 'i1', { connect: false });
      const i2 = instance(hub, 'i2');
      await trip(i1.gate);
      expect(stateOf(i2)).toBe('healthy');
      i1.fleet.connect(hub.store('i1'));
      await settle();
      expect(stateOf(i2)).toBe('open');
    });
  });

  describe('config reloads', () => {
    it('the new gate takes the subscription over; the old one hears nothing more', async () => {
      const { all } = fleetOf(2);
      const [i1, i2] = all as [Instance, Instance];
      const next = setup({ fleet: i2.fleet, previous: i2.gate, a: i2.a, b: i2.b });
      i2.gate.close();
      await settle();
      await trip(i1.gate);
      expect(next.gate.target('a', 'm')?.state).toBe('open');
      expect(stateOf(i2)).toBe('healthy');
      next.gate.drain('a', 'm');
      await settle();
      expect(stateOf(i1)).toBe('drained');
      next.gate.close();
    });
  });

  describe('admin view', () => {
    it('GET /admin/targets shows the fleet’s record, who changed it, and each instance’s local state', async () => {
      const { all } = fleetOf(3);
      const [i1, , i3] = all as [Instance, Instance, Instance];
      for (const i of all) i.a.healthy = false;
      await trip(i1.gate);
      await vi.advanceTimersByTimeAsync(200);
      const app = express();
      app.use('/admin', express.json(), createAdminRouter(i3.gate));

      const res = await request(app).get('/admin/targets').expect(200);
      expect(res.body.fleet).toMatchObject({ instance: 'i3', connected: true, subscribed: true });
      const a = res.body.data.find((t: { provider: string }) => t.provider === 'a');
      expect(a).toMatchObject({
        state: 'open',
        fleet: { state: 'open', version: 1, event: 'open', changedBy: 'i1', changedAt: '2025-01-01T00:00:00.000Z', lastError: { source: 'live', kind: 'server' } },
      });
      expect(a.fleet.instances.map((x: { instance: string; state: string }) => [x.instance, x.state])).toEqual([['i1', 'open'], ['i2', 'open'], ['i3', 'open']]);

      const drained = await request(app).post('/admin/targets/a/m/drain').send({ reason: 'incident' }).expect(200);
      expect(drained.body).toMatchObject({ state: 'drained', fleet: { state: 'drained', version: 2, changedBy: 'i3', drain: { reason: 'incident' } } });
      await settle();
      expect(states(all)).toEqual(['drained', 'drained', 'drained']);
    });

    it('without a fleet the view is as it always was', async () => {
      const env = setup();
      const app = express();
      app.use('/admin', express.json(), createAdminRouter(env.gate));
      const res = await request(app).get('/admin/targets').expect(200);
      expect(res.body.fleet).toBeUndefined();
      expect(res.body.data[0].fleet).toBeUndefined();
      expect(env.gate.fleet()).toBeUndefined();
      env.gate.close();
    });
  });
});

// Keeps the message type honest for hub.deliverTo.
export type { FleetMessage };
