import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { RedisConnection } from '../state/redis/redis-connection.js';
import { quit } from '../state/redis/redis-options.js';
import { fromFields, pairsToObject, parseMessage, probeMessage, stateMessageBody, toFields } from './fleet-codec.js';
import { BEAT_LUA, LEASE_LUA, PROBE_LUA, SETTLE_SLOT_LUA, TAKE_SLOT_LUA, WRITE_LUA } from './fleet-lua.js';
import type { FleetStore, InstanceView, SharedHealth } from './fleet-types.js';

/**
 * Shared target health in Redis, everything under the state key prefix:
 *
 *   health:events                 channel: state and probe news (JSON, see fleet-codec.ts)
 *   health:target:<provider/model> HASH  ver, state, event, since, by, at, why, lastError, drain, lastProbe
 *   health:lease:<target>          STRING the instance running the target's probes (PX, renewed)
 *   health:shadow:<target>:<ver>   ZSET  shadow slots in flight of the probation written at <ver>
 *   health:good:<target>:<ver>     STRING good shadow results of that probation (INCR)
 *   health:instance:<id>           STRING an instance's local view (PX: gone when it dies)
 *   health:instances               ZSET  instance ids by the expiry of their view (expires with the last)
 *
 * Every call goes through `RedisConnection.run` (timeout, no offline queue): it answers or
 * fails with StateUnavailableError, which the fleet layer turns into a local decision.
 */

/** A probation's good count outlives a quiet night; each credit renews it. */
const GOOD_TTL_MS = 24 * 60 * 60 * 1000;

interface FleetScripts {
  llmFleetWrite(key: string, ...args: string[]): Promise<[number, number | unknown[]]>;
  llmFleetProbe(key: string, ...args: string[]): Promise<number>;
  llmFleetLease(key: string, ...args: string[]): Promise<number>;
  llmFleetTakeSlot(slots: string, good: string, ...args: string[]): Promise<number>;
  llmFleetSettleSlot(slots: string, good: string, ...args: string[]): Promise<number>;
  llmFleetBeat(view: string, index: string, ...args: string[]): Promise<number>;
}

const instanceSchema = z.object({
  id: z.string(),
  at: z.number(),
  connected: z.boolean().catch(true),
  targets: z.record(z.string(), z.enum(['healthy', 'open', 'probation', 'drained']).catch('healthy')),
});

export interface RedisFleetStoreOptions {
  instanceId: string;
  now?: () => number;
}

export function createRedisFleetStore(conn: RedisConnection, keyPrefix: string, opts: RedisFleetStoreOptions): FleetStore {
  const id = opts.instanceId;
  const now = opts.now ?? Date.now;
  const p = `${keyPrefix}health:`;
  const channel = `${p}events`;
  const k = {
    target: (key: string) => `${p}target:${key}`,
    lease: (key: string) => `${p}lease:${key}`,
    slots: (key: string, phase: number) => `${p}shadow:${key}:${phase}`,
    good: (key: string, phase: number) => `${p}good:${key}:${phase}`,
    instance: (who: string) => `${p}instance:${who}`,
    instances: `${p}instances`,
  };
  const c0 = conn.client;
  c0.defineCommand('llmFleetWrite', { numberOfKeys: 1, lua: WRITE_LUA });
  c0.defineCommand('llmFleetProbe', { numberOfKeys: 1, lua: PROBE_LUA });
  c0.defineCommand('llmFleetLease', { numberOfKeys: 1, lua: LEASE_LUA });
  c0.defineCommand('llmFleetTakeSlot', { numberOfKeys: 2, lua: TAKE_SLOT_LUA });
  c0.defineCommand('llmFleetSettleSlot', { numberOfKeys: 2, lua: SETTLE_SLOT_LUA });
  c0.defineCommand('llmFleetBeat', { numberOfKeys: 2, lua: BEAT_LUA });
  const scripts = (c: Redis) => c as unknown as FleetScripts;
  let sub: Redis | undefined;

  return {
    instanceId: id,

    async write(key, rec, cond) {
      const [ok, out] = await conn.run('fleet write', (c) =>
        scripts(c).llmFleetWrite(k.target(key), cond.state ?? '', cond.ver === undefined ? '' : String(cond.ver), channel, stateMessageBody(key, id, rec), ...toFields(rec)),
      );
      if (ok === 1) return { ok: true, ver: Number(out) };
      return { ok: false, current: fromFields(pairsToObject(Array.isArray(out) ? out : [])) };
    },

    async noteProbe(key, probe) {
      await conn.run('fleet probe', (c) => scripts(c).llmFleetProbe(k.target(key), JSON.stringify(probe), channel, probeMessage(key, id, probe)));
    },

    read(keys) {
      return conn.run('fleet read', async (c) => {
        const out = new Map<string, SharedHealth & { good: number }>();
        if (!keys.length) return out;
        const pipe = c.pipeline();
        for (const key of keys) pipe.hgetall(k.target(key));
        const rows = (await pipe.exec()) ?? [];
        const inProbation: string[] = [];
        rows.forEach(([err, flat], i) => {
          if (err) throw err;
          const rec = fromFields(flat as Record<string, string>);
          if (!rec) return;
          out.set(keys[i]!, { ...rec, good: 0 });
          if (rec.state === 'probation') inProbation.push(keys[i]!);
        });
        if (inProbation.length) {
          const goods = await c.mget(inProbation.map((key) => k.good(key, out.get(key)!.ver)));
          inProbation.forEach((key, i) => (out.get(key)!.good = Number(goods[i] ?? 0) || 0));
        }
        return out;
      });
    },

    async lease(key, ms) {
      return (await conn.run('fleet lease', (c) => scripts(c).llmFleetLease(k.lease(key), id, String(Math.max(1, Math.round(ms)))))) === 1;
    },

    async takeSlot(key, phase, slot, limits) {
      const got = await conn.run('fleet shadow slot', (c) =>
        scripts(c).llmFleetTakeSlot(k.slots(key, phase), k.good(key, phase), slot, String(limits.max), String(limits.budget), String(Math.max(1, Math.round(limits.ttlMs)))),
      );
      return got === 1;
    },

    async settleSlot(key, phase, slot, good) {
      return Number(await conn.run('fleet shadow settle', (c) => scripts(c).llmFleetSettleSlot(k.slots(key, phase), k.good(key, phase), slot, good ? '1' : '0', String(GOOD_TTL_MS))));
    },

    async beat(view: InstanceView, ttlMs: number) {
      const ms = Math.max(1, Math.round(ttlMs));
      await conn.run('fleet heartbeat', (c) => scripts(c).llmFleetBeat(k.instance(view.id), k.instances, JSON.stringify(view), String(ms), String(view.at + ms), view.id, String(now())));
    },

    instances() {
      return conn.run('fleet instances', async (c) => {
        const ids = await c.zrangebyscore(k.instances, now(), '+inf');
        if (!ids.length) return [];
        const texts = await c.mget(ids.map((who) => k.instance(who)));
        const out: InstanceView[] = [];
        for (const text of texts) {
          if (!text) continue;
          try {
            const parsed = instanceSchema.safeParse(JSON.parse(text));
            if (parsed.success) out.push(parsed.data);
          } catch {
            // another instance's garbage is not our failure
          }
        }
        return out;
      });
    },

    listen(on) {
      if (sub) return;
      const s = (sub = conn.subscriber());
      s.on('ready', () => {
        s.subscribe(channel).then(
          () => on.ready(),
          () => on.lost(),
        );
      });
      s.on('close', () => on.lost());
      s.on('message', (ch: string, text: string) => {
        if (ch !== channel) return;
        const m = parseMessage(text);
        if (m) on.message(m);
      });
    },

    async close() {
      if (sub) await quit(sub, conn.config.commandTimeoutMs);
    },
  };
}
