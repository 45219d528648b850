import path from 'node:path';

import type { StateLogger } from '../state-logger.js';
import type { ObservableStateBackend } from '../state-stats.js';
import { FileKeyStore } from './file-key-store.js';
import { MemoryLimiter } from './memory-limiter.js';
import { UsageLedger } from './usage-ledger.js';

/** Where and how the memory backend keeps its state. */
export interface MemoryBackendOptions {
  /** Absolute data folder: `keys.json` and `usage/` live here. */
  dataDir: string;
  logger: StateLogger;
  now?: () => number;
}

/**
 * State of one process: keys in memory and in `<dataDir>/keys.json`, limits in memory (spend
 * starts at zero after a restart), usage in `<dataDir>/usage/*.jsonl`. Always healthy: there
 * is nothing to lose contact with.
 */
export async function createMemoryBackend(options: MemoryBackendOptions): Promise<ObservableStateBackend> {
  const keys = await FileKeyStore.open(path.join(options.dataDir, 'keys.json'), { now: options.now, logger: options.logger });
  const limiter = new MemoryLimiter({ now: options.now });
  const usage = new UsageLedger({ dir: path.join(options.dataDir, 'usage'), logger: options.logger });
  return {
    kind: 'memory',
    dataDir: options.dataDir,
    keys,
    limiter,
    usage,
    healthy: () => true,
    stats: () => ({ usage: usage.stats() }),
    async close() {
      await usage.close();
      await keys.close();
      await limiter.close();
    },
  };
}
