import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ObservableStateBackend } from '../state/state-stats.js';
import { createFleetHealth } from './fleet-health.js';
import { createFleetMetrics } from './fleet-metrics.js';
import type { FleetHealth } from './fleet-types.js';
import { createRedisFleetStore } from './redis-fleet-store.js';

export interface RedisFleetHealthDeps {
  /** The state backend once open (`policies.state()`); read later, never while this is built. */
  backend: () => ObservableStateBackend | undefined;
  logger: Logger;
  registry: Registry;
  instanceId?: string;
  reconcileMs?: number;
}

/** Longest wait between two looks for the state backend while the server starts. */
const LOOK_MAX_MS = 1_000;

/**
 * The fleet layer of one router process on the state backend's Redis. Gates are built (and
 * attach) before the server listens, while the backend opens only then: until it is open the
 * gates decide alone and their decisions are written once it is. With a memory backend it
 * stays a no-op. It closes with the backend's connection (the server's shutdown closes that last).
 */
export function createRedisFleetHealth(deps: RedisFleetHealthDeps): FleetHealth & { readonly instanceId: string } {
  const fleet = createFleetHealth({ logger: deps.logger, metrics: createFleetMetrics(deps.registry), instanceId: deps.instanceId, reconcileMs: deps.reconcileMs });
  let looks = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const look = () => {
    timer = undefined;
    if (stopped) return;
    const backend = deps.backend();
    if (backend?.redis) {
      const { connection, keyPrefix } = backend.redis;
      connection.client.once('end', () => void fleet.close());
      fleet.connect(createRedisFleetStore(connection, keyPrefix, { instanceId: fleet.instanceId }));
      return;
    }
    if (backend) return; // memory: one instance, nothing to share
    timer = setTimeout(look, Math.min(LOOK_MAX_MS, 20 * 2 ** looks++));
    timer.unref();
  };
  timer = setTimeout(look, 0);
  timer.unref();

  return {
    instanceId: fleet.instanceId,
    attach: (gate) => fleet.attach(gate),
    async close() {
      stopped = true;
      clearTimeout(timer);
      await fleet.close();
    },
  };
}
